"""EIA-930 hourly net generation by fuel with average carbon intensity, one balancing authority.

Files ``eia930_<BA>_<year>_hourly_gen_by_fuel_and_avgCI.csv``: a UTC ``timestamp`` (start of the
hour: CISO solar is 1,367 MWh at 00:00 UTC on 1 Jan 2022, i.e. 16:00–17:00 PST before a 16:55
sunset, and 0 an hour later), net generation (MWh in the hour, i.e. mean MW) for the fuels in
:data:`FUELS`, and ``avg_CI`` (gCO2eq/kWh = kg/MWh), the generation-weighted mean of the
lifecycle factors in :data:`IPCC_AR5_LIFECYCLE_G_PER_KWH`::

    avg_CI = sum_f gen_f * factor_f / sum_f gen_f        (all eight fuels, as given)

This reproduces the files' ``avg_CI`` to floating-point rounding (< 1e-12 g/kWh) in every hour of
CISO, ERCO, NYIS and PJM 2022. The 2022 files hold no negative generation, so no rule for it
can be read from them; a negative value would simply enter both sums. Hours with no data are
empty rows (NaN for all fuels and for ``avg_CI``).

Net generation can be negative (pumped storage and batteries pumping, idle plants' own
consumption); values are kept, with two plausibility checks:

- a fuel without storage (all but WAT and OTH) below −2 % of the hour's total net generation
  is implausible: NaN with ``QC.OUT_OF_RANGE``;
- an hour whose total net generation is below half the median total of the surrounding
  25 hours is a reporting dropout (PJM 2022-10-01 05:00–08:00 and 2022-10-02 04:00 UTC read
  0 for most fuels): values kept, every fuel and the carbon intensity flagged ``QC.SPIKE``.

The carbon intensity is taken from the file, kept, and flagged ``QC.SPIKE`` in the hours where
a generation value is flagged (it was computed from it).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from gridopt.io.generic import ColumnSpec, open_csv_series
from gridopt.io.series import QC, Rule, add_series, qc_name, series_attrs

__all__ = [
    "FUELS",
    "FACTOR_SETS",
    "IPCC_AR5_LIFECYCLE_G_PER_KWH",
    "ELECTRICITY_MAPS_DIRECT_G_PER_KWH",
    "open_eia930",
]

FUELS = ("WND", "SUN", "WAT", "OIL", "NG", "COL", "NUC", "OTH")
"""EIA-930 fuel codes: wind, solar, hydro (incl. pumped storage), oil, natural gas, coal,
nuclear, other (incl. biomass, geothermal, batteries)."""

# Lifecycle emissions, gCO2eq/kWh, medians of IPCC AR5 WGIII Annex III (Schlömer et al. 2014),
# Table A.III.2: coal (pulverised) 820, gas (combined cycle) 490, biomass (dedicated) 230 for
# OTH, hydropower 24, nuclear 12, wind onshore 11, solar PV rooftop 41 (utility-scale is 48).
# Oil 650 is not in AR5; it is the value Electricity Maps and the data compiler use.
# These are the factors the files' avg_CI was computed with (solar 41, not 45: with 45 the
# recomputed CISO intensity is off by up to 2.7 g/kWh).
IPCC_AR5_LIFECYCLE_G_PER_KWH = {
    "COL": 820,
    "NG": 490,
    "OIL": 650,
    "OTH": 230,
    "SUN": 41,
    "WAT": 24,
    "NUC": 12,
    "WND": 11,
}

# Direct (combustion-only) emissions, gCO2eq/kWh: Electricity Maps defaults (IPCC 2014; oil an
# EIA 2020/BEIS 2021 blend; OTH as "unknown/other thermal"); non-combustion fuels emit nothing.
ELECTRICITY_MAPS_DIRECT_G_PER_KWH = {
    "COL": 760,
    "NG": 370,
    "OIL": 406,
    "OTH": 575,
    "SUN": 0,
    "WAT": 0,
    "NUC": 0,
    "WND": 0,
}

FACTOR_SETS = {"lifecycle": IPCC_AR5_LIFECYCLE_G_PER_KWH, "direct": ELECTRICITY_MAPS_DIRECT_G_PER_KWH}
"""Factor sets by name (g/kWh = kg/MWh); ``lifecycle`` reproduces the files' ``avg_CI``."""

_STORAGE_FUELS = ("WAT", "OTH")
_NEGATIVE_SHARE = 0.02  # a fuel without storage may be negative by this share of the total
_DROPOUT_SHARE = 0.5  # a total below this share of the surrounding median is a dropout
_DROPOUT_WINDOW_H = 25


def open_eia930(path: str | Path) -> xr.Dataset:
    """Read one EIA-930 file into ``generation_mw(time, fuel)`` and the average intensity.

    ``generation_mw`` is net generation (mean MW over the hour starting at ``time``; injection
    positive, negative when a fuel's plants consume more than they produce);
    ``grid_co2_average_t_per_mwh`` is the file's ``avg_CI`` / 1000 (t CO2eq per MWh
    generated, lifecycle). The global attribute ``balancing_authority`` comes from the file name.
    """
    path = Path(path)
    columns = {
        fuel: ColumnSpec(f"generation_{fuel}_mw", "MW", f"net generation, {fuel}")
        for fuel in FUELS
    }
    columns["avg_CI"] = ColumnSpec(
        "grid_co2_average_t_per_mwh", "t MWh-1", "average carbon intensity", scale=1e-3
    )
    flat = open_csv_series(
        path, time_column="timestamp", columns=columns, timezone="UTC", step="1h"
    )
    gen = xr.concat([flat[f"generation_{f}_mw"] for f in FUELS], dim=pd.Index(FUELS, name="fuel"))
    flags = xr.concat(
        [flat[qc_name(f"generation_{f}_mw")] for f in FUELS], dim=pd.Index(FUELS, name="fuel")
    )
    gen, flags = gen.transpose("time", "fuel"), flags.transpose("time", "fuel").values.copy()
    flags |= _plausibility_flags(gen)
    gen = gen.where((flags & QC.OUT_OF_RANGE) == 0)
    ds = xr.Dataset(coords={"time": flat["time"], "fuel": ("fuel", list(FUELS))})
    add_series(
        ds,
        "generation_mw",
        gen,
        flags,
        series_attrs("MW", "net generation by fuel (mean over the hour)", Rule.MEAN),
    )
    ci_flags = flat[qc_name("grid_co2_average_t_per_mwh")].values | np.where(
        (flags & (QC.SPIKE | QC.OUT_OF_RANGE)).any(axis=1), QC.SPIKE, 0
    ).astype(np.uint8)
    add_series(
        ds,
        "grid_co2_average_t_per_mwh",
        flat["grid_co2_average_t_per_mwh"],
        ci_flags,
        series_attrs(
            "t MWh-1",
            "average lifecycle carbon intensity of generation (CO2eq)",
            Rule.MEAN,
            comment="avg_CI of the source / 1000; IPCC AR5 lifecycle factors, see "
            "gridopt.io.eia930.IPCC_AR5_LIFECYCLE_G_PER_KWH",
        ),
    )
    ds.attrs = {
        **flat.attrs,
        "title": f"EIA-930 hourly net generation by fuel, {_balancing_authority(path)}",
        "balancing_authority": _balancing_authority(path),
        "institution": "U.S. Energy Information Administration (Form EIA-930)",
        "references": "https://www.eia.gov/electricity/gridmonitor/; IPCC AR5 WGIII Annex III",
    }
    return ds


def _balancing_authority(path: Path) -> str:
    match = re.match(r"eia930_([A-Z0-9]+)_", path.name)
    return match.group(1) if match else "unknown"


def _plausibility_flags(gen: xr.DataArray) -> np.ndarray:
    """OUT_OF_RANGE for implausible negatives, SPIKE for dropout hours (see module docstring)."""
    values = gen.values
    total = pd.Series(np.nansum(values, axis=1), index=gen.indexes["time"])
    total[np.isnan(values).all(axis=1)] = np.nan
    floor = -_NEGATIVE_SHARE * total.clip(lower=0).to_numpy()[:, None]
    no_storage = ~np.isin(np.asarray(FUELS), _STORAGE_FUELS)
    with np.errstate(invalid="ignore"):
        negative = (values < floor) & no_storage
    surrounding = total.rolling(_DROPOUT_WINDOW_H, center=True, min_periods=1).median()
    with np.errstate(invalid="ignore"):
        dropout = (total < _DROPOUT_SHARE * surrounding).to_numpy()
    flags = np.where(negative, QC.OUT_OF_RANGE, 0) | np.where(dropout[:, None], QC.SPIKE, 0)
    return flags.astype(np.uint8)

