"""Environmental signals: carbon intensity, air-quality index, sensor QC and calibration.

Sections:

- Carbon intensity: ``average_intensity``, ``marginal_intensity``, ``read_fuel_emission_factors``
  and the SimBench 2016 signal ``simbench_carbon_signal``.
- Air-quality index: hourly ``epa_aqi`` (US EPA, 2024 breakpoints) and ``china_aqi``
  (HJ 633-2012) of the ``aq_<pollutant>_<unit>`` series of a dataset; their tables
  (``EPA_TABLES``, ``CHINA_TABLES``, ``sub_index``), categories and colours, the EPA ``nowcast``
  and unit conversions ``ppb_from_ug_m3`` / ``ug_m3_from_ppb``.
- Sensor QC and calibration: ``qc_report`` (coverage and QC flags per station and series) and
  ``calibrate_sensors`` (AirQualityUCI sensor array against its reference analysers).

Generation arrays are ``generation_mw(time, fuel)``: mean MW over each step, injection positive.
Emission factors are tonnes of pollutant per MWh generated (t/MWh = kg/kWh), one per fuel.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from gridopt.errors import DataError
from gridopt.io.airquality import open_airquality_uci
from gridopt.io.series import (
    QC,
    Rule,
    add_series,
    qc_name,
    range_flags,
    select_time,
    series_attrs,
)

__all__ = [
    "FUEL_FACTORS_FILE",
    "SIMBENCH_CARBON_GRID",
    "read_fuel_emission_factors",
    "average_intensity",
    "marginal_intensity",
    "simbench_carbon_signal",
    "IndexTable",
    "Category",
    "EPA_TABLES",
    "CHINA_TABLES",
    "EPA_CATEGORIES",
    "CHINA_CATEGORIES",
    "MOLAR_MASS_G_PER_MOL",
    "molar_volume_l_per_mol",
    "ppb_from_ug_m3",
    "ug_m3_from_ppb",
    "sub_index",
    "aqi_category",
    "nowcast",
    "epa_aqi",
    "china_aqi",
    "CALIBRATION_FEATURES",
    "CALIBRATION_TARGETS",
    "qc_report",
    "calibrate_sensors",
]

# =========================================================================== carbon intensity

FUEL_FACTORS_FILE = (
    Path(__file__).resolve().parents[1] / "data" / "simbench_fuel_emission_factors.csv"
)
SIMBENCH_CARBON_GRID = "simbench:1-EHV-mixed--0-sw"
_FACTOR_COLUMNS = ("co2_t_per_mwh", "nox_t_per_mwh", "so2_t_per_mwh", "pm25_t_per_mwh")
_INTENSITY_UNITS = "t MWh-1"
# A fuel whose factor is at least this is "emitting" (combustion): the default fleet of the
# marginal regression. It separates fossil fuels and imports (direct 0.28-1.2, lifecycle >= 0.23
# t/MWh) from wind, solar, hydro and nuclear (0 direct, <= 0.05 lifecycle, IPCC AR5 medians).
_EMITTING_T_PER_MWH = 0.1
_BIN_VALUES = {"hour": np.arange(24), "season": np.array(["DJF", "MAM", "JJA", "SON"])}
_SEASON_OF_MONTH = np.array(["DJF"] * 2 + ["MAM"] * 3 + ["JJA"] * 3 + ["SON"] * 3 + ["DJF"])
_MIN_FIT_POINTS = 3
_SILER_EVANS = (
    "Siler-Evans, Azevedo & Morgan (2012), Marginal Emissions Factors for the U.S. Electricity "
    "System, Environ. Sci. Technol. 46(9):4742-4748"
)


def read_fuel_emission_factors(path: str | Path | None = None) -> pd.DataFrame:
    """The emission-factor table (default ``data/simbench_fuel_emission_factors.csv``).

    Indexed by ``fuel``; columns ``co2_t_per_mwh``, ``nox_t_per_mwh``, ``so2_t_per_mwh``,
    ``pm25_t_per_mwh`` (NaN where no sourced value exists), ``basis`` and ``source``.
    """
    path = Path(path) if path is not None else FUEL_FACTORS_FILE
    if not path.is_file():
        raise DataError(f"{path}: emission-factor file not found")
    table = pd.read_csv(path, dtype={"fuel": str})
    missing = [c for c in ("fuel", *_FACTOR_COLUMNS, "basis", "source") if c not in table]
    if missing:
        raise DataError(f"{path.name}: column '{missing[0]}' is missing")
    for column in _FACTOR_COLUMNS:
        values = pd.to_numeric(table[column], errors="coerce")
        bad = (values.isna() & table[column].notna()) | (values < 0)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(f"{path.name}: column '{column}' must be a number >= 0 "
                            f"(got {table[column].iloc[row]!r} in row {row + 2})")
        table[column] = values
    duplicated = table["fuel"].duplicated()
    if duplicated.any():
        first = table["fuel"][duplicated].iloc[0]
        raise DataError(f"{path.name}: fuel must be unique (got '{first}' twice)")
    return table.set_index("fuel")


def average_intensity(
    generation_mw: xr.DataArray, factors_t_per_mwh: Mapping[str, float]
) -> xr.DataArray:
    """Generation-weighted emission intensity Σ g·k / Σ g per step, in t/MWh.

    Negative generation (a unit consuming: pumping, exports booked as a fuel) emits nothing
    here and is left out of both sums, so it can neither lower nor raise the intensity. A step
    with no positive generation is NaN, as is a step with any NaN generation. A fuel in
    ``generation_mw`` without a (finite) factor is a DataError naming it.
    """
    gen = _positive_generation(generation_mw)
    factors = _factor_vector(gen, factors_t_per_mwh)
    emissions = (gen * factors).sum("fuel", skipna=False)
    total = gen.sum("fuel", skipna=False)
    intensity = (emissions / total).where(total > 0)
    intensity.name = "average_intensity_t_per_mwh"
    intensity.attrs = series_attrs(
        _INTENSITY_UNITS, "generation-weighted average emission intensity", Rule.MEAN
    )
    return intensity


def marginal_intensity(
    generation_mw: xr.DataArray,
    factors_t_per_mwh: Mapping[str, float],
    *,
    by: Iterable[str] = ("hour", "season"),
    fuels: Iterable[str] | None = None,
    tz: str = "UTC",
) -> tuple[xr.DataArray, xr.Dataset]:
    """Marginal emission factor by regression of hourly changes (Siler-Evans et al. 2012).

    Per bin, fits ΔE = slope · ΔG + intercept by least squares, where E = Σ g·k over all fuels
    (t/h) and G is the generation of ``fuels`` (MW), both hourly means, Δ the change from the
    previous hour. ``fuels`` defaults to the emitting fleet, fuels with a factor >= 0.1 t/MWh:
    like Siler-Evans et al., who regress on fossil generation, it leaves out wind, solar,
    hydro and nuclear, whose changes follow weather and schedules rather than demand. Negative
    generation counts as zero (as in ``average_intensity``). Finer-than-hourly input is averaged
    to hours first; coarser input is a DataError.

    ``by`` chooses the bins from "hour" (hour of day in ``tz``, of the later hour of each
    change) and "season" (DJF, MAM, JJA, SON); ``()`` fits one line to all changes.

    Returns the slope of each step's bin on the input's time axis (t/MWh; NaN where a bin has
    fewer than 3 changes or no spread in ΔG) and the fit table with dims ``by``:
    ``slope_t_per_mwh``, ``intercept_t_per_h``, ``r2``, ``n``.
    """
    by = _check_bins(by)
    gen = _positive_generation(generation_mw)
    factors = _factor_vector(gen, factors_t_per_mwh)
    fleet = _fleet(gen, factors, fuels)
    hourly = _hourly(pd.DataFrame({
        "e": (gen * factors).sum("fuel", skipna=False).values,
        "g": gen.sel(fuel=fleet).sum("fuel", skipna=False).values,
    }, index=gen.indexes["time"]))
    change = hourly.diff().iloc[1:]
    codes = _bin_codes(change.index, by, tz)
    fit = _fit_bins(change["e"].to_numpy(), change["g"].to_numpy(), codes, by)
    slope = fit["slope_t_per_mwh"].values.ravel()[_bin_codes(gen.indexes["time"], by, tz)]
    series = xr.DataArray(slope, dims="time", coords={"time": gen["time"]},
                          name="marginal_intensity_t_per_mwh")
    series.attrs = series_attrs(
        _INTENSITY_UNITS, "marginal emission factor", Rule.MEAN,
        comment=f"slope of hourly dE on dG of {', '.join(fleet)} per {' x '.join(by) or 'all'} "
                f"bin ({tz} hours); {_SILER_EVANS}",
    )
    fit.attrs = {"fleet": ", ".join(fleet), "bins": " x ".join(by), "bin_timezone": tz,
                 "references": _SILER_EVANS}
    return series, fit


def simbench_carbon_signal(start=None, end=None) -> xr.Dataset:
    """CO2 intensity of SimBench's 2016 German EHV dispatch, 15-min, UTC.

    ``ext_grid_co2_average_t_per_mwh(time)`` and ``ext_grid_co2_marginal_t_per_mwh(time)``
    from the power-plant and renewable profiles of ``1-EHV-mixed--0-sw`` (generation by fuel =
    Σ rated power × profile, see ``gridopt.io.simbench.simbench_generation_by_fuel``) and the
    direct-combustion CO2 factors of ``data/simbench_fuel_emission_factors.csv`` (imports at the
    EU-27 mix). The marginal factor is fitted per local (Europe/Berlin) hour of day × season on
    the whole year, whatever ``start``/``end`` (UTC, inclusive) select. Computed once per
    process (several seconds: the EHV grid is loaded) and cached.
    """
    year = _simbench_carbon_year()
    where = f"SimBench carbon signal ({SIMBENCH_CARBON_GRID})"
    return select_time(year, start, end, where=where).copy(deep=True)


@functools.lru_cache(maxsize=1)
def _simbench_carbon_year() -> xr.Dataset:
    # Imported here: only this signal needs SimBench (and through it pandapower).
    from gridopt.io.simbench import SIMBENCH_TZ, simbench_generation_by_fuel
    from gridopt.network import load_network

    net = load_network(SIMBENCH_CARBON_GRID)
    generation = simbench_generation_by_fuel(net)
    factors = read_fuel_emission_factors()["co2_t_per_mwh"]
    average = average_intensity(generation, factors)
    marginal, fit = marginal_intensity(generation, factors, tz=SIMBENCH_TZ)
    ds = xr.Dataset(coords={"time": generation["time"]})
    for name, series, what in (
        ("ext_grid_co2_average_t_per_mwh", average, "average CO2 intensity of generation"),
        ("ext_grid_co2_marginal_t_per_mwh", marginal, "marginal CO2 emission factor"),
    ):
        attrs = {**series.attrs, "long_name": f"{what} (direct combustion)"}
        add_series(ds, name, series, range_flags(series.values, -np.inf, np.inf), attrs)
    ds["time"].attrs["timezone"] = "UTC"
    ds.attrs = {
        "title": "CO2 intensity of the SimBench 2016 EHV power-plant dispatch",
        "source": f"{SIMBENCH_CARBON_GRID} profiles (simbench); {FUEL_FACTORS_FILE.name}",
        "source_timezone": SIMBENCH_TZ,
        "method": "average: generation-weighted mean of fuel factors; marginal: regression of "
                  f"hourly changes in emissions on changes in {fit.attrs['fleet']} generation "
                  f"per {fit.attrs['bins']} bin (Europe/Berlin hours)",
        "factor_set": f"{FUEL_FACTORS_FILE.name}: co2_t_per_mwh (direct combustion; imports at "
                      "the EU-27 generation mix; biomass biogenic = 0)",
        "marginal_fit_median_r2": float(np.nanmedian(fit["r2"].values)),
        "references": f"Meinecke et al. (2020), Energies 13(12):3290 (SimBench); {_SILER_EVANS}",
    }
    return ds


def _positive_generation(generation_mw: xr.DataArray) -> xr.DataArray:
    """``generation_mw`` as (time, fuel) floats with negative values set to 0 (NaN kept)."""
    if set(generation_mw.dims) != {"time", "fuel"}:
        raise DataError(f"generation_mw must have dims (time, fuel) (got {generation_mw.dims})")
    gen = generation_mw.transpose("time", "fuel").astype(float)
    return gen.where(~(gen < 0), 0.0)


def _factor_vector(gen: xr.DataArray, factors: Mapping[str, float]) -> xr.DataArray:
    """The factor of each fuel of ``gen`` as a DataArray over ``fuel``."""
    values = []
    for fuel in gen["fuel"].values.tolist():
        value = factors.get(fuel)
        if value is None or not np.isfinite(value):
            known = ", ".join(sorted(str(k) for k in factors))
            raise DataError(
                f"emission factors: fuel '{fuel}' has no factor (got factors for {known})"
            )
        values.append(float(value))
    return xr.DataArray(values, dims="fuel", coords={"fuel": gen["fuel"]})


def _fleet(gen: xr.DataArray, factors: xr.DataArray, fuels: Iterable[str] | None) -> list[str]:
    available = gen["fuel"].values.tolist()
    if fuels is None:
        return [f for f in available if factors.sel(fuel=f) >= _EMITTING_T_PER_MWH]
    fleet = list(fuels)
    unknown = [f for f in fleet if f not in available]
    if unknown or not fleet:
        raise DataError(f"fuels must be a non-empty subset of generation_mw fuels {available} "
                        f"(got {unknown or fleet})")
    return fleet


def _check_bins(by: Iterable[str]) -> tuple[str, ...]:
    by = tuple(by)
    if len(set(by)) != len(by) or any(b not in _BIN_VALUES for b in by):
        raise DataError(f"by must list distinct bins from {tuple(_BIN_VALUES)} (got {by})")
    return by


def _hourly(frame: pd.DataFrame) -> pd.DataFrame:
    """Hourly means; an hour with a missing step is NaN (not a mean of the rest)."""
    step = frame.index.to_series().diff().median() if len(frame) > 1 else pd.Timedelta("1h")
    if step > pd.Timedelta("1h"):
        raise DataError(
            f"generation_mw must be hourly or finer for marginal_intensity (got a {step} step)"
        )
    return frame.resample("1h").mean().where(~frame.isna().resample("1h").max())


def _bin_codes(times: pd.DatetimeIndex, by: tuple[str, ...], tz: str) -> np.ndarray:
    """The flat bin number of each time (row-major over ``by``)."""
    if not by:
        return np.zeros(len(times), dtype=int)
    local = times.tz_localize("UTC").tz_convert(tz)
    labels = {"hour": local.hour.to_numpy(), "season": _SEASON_OF_MONTH[local.month.to_numpy() - 1]}
    codes = [pd.Index(_BIN_VALUES[b]).get_indexer(labels[b]) for b in by]
    return np.ravel_multi_index(codes, [len(_BIN_VALUES[b]) for b in by])


def _fit_bins(
    d_e: np.ndarray, d_g: np.ndarray, codes: np.ndarray, by: tuple[str, ...]
) -> xr.Dataset:
    """Least-squares line ΔE = slope·ΔG + intercept in each bin, with r² and count."""
    shape = [len(_BIN_VALUES[b]) for b in by]
    size = int(np.prod(shape))
    slope, intercept, r2 = (np.full(size, np.nan) for _ in range(3))
    n = np.zeros(size, dtype=int)
    ok = np.isfinite(d_e) & np.isfinite(d_g)
    for b in range(size):
        x, y = d_g[ok & (codes == b)], d_e[ok & (codes == b)]
        n[b] = len(x)
        if len(x) < _MIN_FIT_POINTS or np.ptp(x) == 0:
            continue
        design = np.column_stack([x, np.ones_like(x)])
        (slope[b], intercept[b]), *_ = np.linalg.lstsq(design, y, rcond=None)
        ss_tot = np.sum((y - y.mean()) ** 2)
        residual = y - design @ np.array([slope[b], intercept[b]])
        r2[b] = 1 - np.sum(residual**2) / ss_tot if ss_tot > 0 else np.nan
    coords = {b: _BIN_VALUES[b] for b in by}
    return xr.Dataset(
        {
            "slope_t_per_mwh": (by, slope.reshape(shape), {"units": _INTENSITY_UNITS,
                                                          "long_name": "marginal emission factor"}),
            "intercept_t_per_h": (by, intercept.reshape(shape), {"units": "t h-1"}),
            "r2": (by, r2.reshape(shape), {"long_name": "coefficient of determination"}),
            "n": (by, n.reshape(shape), {"long_name": "hourly changes in the bin"}),
        },
        coords=coords,
    )


# =========================================================================== air-quality index
#
# Sources. US EPA: Technical Assistance Document for the Reporting of Daily Air Quality - the AQI,
# EPA-454/B-24-002 (May 2024), Table 6, with the PM2.5 breakpoints of the 2024 PM NAAQS revision
# (40 CFR 58 Appendix G, in force 6 May 2024), and AirNow's "The AQI Equation (2024)" and NowCast
# pages (forum.airnowtech.org). China: HJ 633-2012 Technical Regulation on Ambient Air Quality
# Index (on trial), Table 1 (IAQI and concentration limits) and Appendix A (colours); data
# completeness from GB 3095-2012 section 7.

_POLLUTANTS = {"pm25": "PM2.5", "pm10": "PM10", "o3": "O3", "co": "CO", "so2": "SO2", "no2": "NO2"}
_AQ_SERIES = re.compile(r"^aq_(pm25|pm10|o3|co|so2|no2)_(ug_m3|mg_m3|ppb|ppm)$")
# Molar masses from the IUPAC standard atomic weights C 12.011, N 14.007, O 15.999, S 32.06.
MOLAR_MASS_G_PER_MOL = {"co": 28.010, "no2": 46.005, "o3": 47.997, "so2": 64.058}
GAS_CONSTANT_J_PER_MOL_K = 8.314462618
REFERENCE_TEMP_C = 25.0  # EPA's conversion temperature
REFERENCE_PRESSURE_HPA = 1013.25
_PER_UG_M3 = {"ug_m3": 1.0, "mg_m3": 1e-3}  # mass concentrations
_PER_PPB = {"ppb": 1.0, "ppm": 1e-3}  # mixing ratios
# Hours a trailing mean needs (of its window): EPA 75 % (40 CFR 50 App. N and U; AirNow);
# China GB 3095-2012 section 7: 20 hours of a 24-hour mean, 6 of an 8-hour mean.
EPA_MIN_HOURS = {24: 18, 8: 6}
CHINA_MIN_HOURS = {24: 20, 8: 6}
_EPA_REFERENCES = (
    "US EPA (2024) Technical Assistance Document for the Reporting of Daily Air Quality - the Air "
    "Quality Index (AQI), EPA-454/B-24-002; AirNow, The AQI Equation (2024) and the NowCast"
)
_CHINA_REFERENCES = (
    "HJ 633-2012 Technical Regulation on Ambient Air Quality Index (on trial); "
    "GB 3095-2012 Ambient Air Quality Standards, section 7 (data validity)"
)


@dataclass(frozen=True)
class IndexTable:
    """Breakpoints of one pollutant over one averaging period.

    Band ``(c_lo, c_hi, i_lo, i_hi)`` maps a concentration ``c_lo <= c <= c_hi`` (in ``units``,
    a ``hours``-hour mean) linearly to ``i_lo + (i_hi - i_lo) (c - c_lo) / (c_hi - c_lo)``.
    ``step``: the concentration is first truncated to a multiple of it (EPA); None: used as is
    (HJ 633). ``rounding``: "half_up" to the nearest integer (EPA) or "up" (HJ 633 rounds every
    index up). Below the first band there is no index (NaN); above the last, ``beyond`` says:
    "cap" gives the top index value, "none" gives NaN (another averaging period takes over).
    """

    pollutant: str
    hours: int
    units: str
    bands: tuple[tuple[float, float, int, int], ...]
    step: float | None
    rounding: str
    beyond: str = "cap"


@dataclass(frozen=True)
class Category:
    """An AQI category: ``low`` is its lowest index value, ``color`` the official RGB colour."""

    name: str
    local_name: str
    low: int
    color: str


def _epa(pollutant: str, hours: int, units: str, step: float, bands, beyond: str = "cap"):
    return IndexTable(pollutant, hours, units, tuple(bands), step, "half_up", beyond)


def _china(pollutant: str, hours: int, units: str, limits, beyond: str = "cap"):
    iaqi = (0, 50, 100, 150, 200, 300, 400, 500)
    bands = tuple(zip(limits[:-1], limits[1:], iaqi[:-1], iaqi[1:], strict=False))
    return IndexTable(pollutant, hours, units, bands, None, "up", beyond)


# fmt: off
# EPA-454/B-24-002 Table 6. Truncation: PM2.5 0.1 ug/m3, PM10 1 ug/m3, O3 0.001 ppm, CO 0.1 ppm,
# SO2 and NO2 1 ppb. 8-h O3 defines no AQI above 300 (0.200 ppm); 1-h O3 none below 101
# (0.125 ppm). 1-h SO2 defines none above 200: from 305 ppb the 24-h mean is used.
EPA_TABLES = {
    "pm25_24h": _epa("pm25", 24, "ug_m3", 0.1, [(0.0, 9.0, 0, 50), (9.1, 35.4, 51, 100),
        (35.5, 55.4, 101, 150), (55.5, 125.4, 151, 200), (125.5, 225.4, 201, 300),
        (225.5, 325.4, 301, 500)]),
    "pm10_24h": _epa("pm10", 24, "ug_m3", 1, [(0, 54, 0, 50), (55, 154, 51, 100),
        (155, 254, 101, 150), (255, 354, 151, 200), (355, 424, 201, 300), (425, 604, 301, 500)]),
    "o3_8h": _epa("o3", 8, "ppm", 0.001, [(0.000, 0.054, 0, 50), (0.055, 0.070, 51, 100),
        (0.071, 0.085, 101, 150), (0.086, 0.105, 151, 200), (0.106, 0.200, 201, 300)],
        beyond="none"),
    "o3_1h": _epa("o3", 1, "ppm", 0.001, [(0.125, 0.164, 101, 150), (0.165, 0.204, 151, 200),
        (0.205, 0.404, 201, 300), (0.405, 0.604, 301, 500)]),
    "co_8h": _epa("co", 8, "ppm", 0.1, [(0.0, 4.4, 0, 50), (4.5, 9.4, 51, 100),
        (9.5, 12.4, 101, 150), (12.5, 15.4, 151, 200), (15.5, 30.4, 201, 300),
        (30.5, 50.4, 301, 500)]),
    "so2_1h": _epa("so2", 1, "ppb", 1, [(0, 35, 0, 50), (36, 75, 51, 100), (76, 185, 101, 150),
        (186, 304, 151, 200)]),
    "so2_24h": _epa("so2", 24, "ppb", 1, [(305, 604, 201, 300), (605, 1004, 301, 500)]),
    "no2_1h": _epa("no2", 1, "ppb", 1, [(0, 53, 0, 50), (54, 100, 51, 100), (101, 360, 101, 150),
        (361, 649, 151, 200), (650, 1249, 201, 300), (1250, 2049, 301, 500)]),
}
# HJ 633-2012 Table 1 (ug/m3; CO mg/m3). 1-h SO2 above 800 and 8-h O3 above 800 ug/m3 define
# no IAQI: the 24-h SO2 and the 1-h O3 IAQI are reported instead (notes to Table 1).
CHINA_TABLES = {
    "so2_24h": _china("so2", 24, "ug_m3", (0, 50, 150, 475, 800, 1600, 2100, 2620)),
    "so2_1h": _china("so2", 1, "ug_m3", (0, 150, 500, 650, 800), beyond="none"),
    "no2_24h": _china("no2", 24, "ug_m3", (0, 40, 80, 180, 280, 565, 750, 940)),
    "no2_1h": _china("no2", 1, "ug_m3", (0, 100, 200, 700, 1200, 2340, 3090, 3840)),
    "pm10_24h": _china("pm10", 24, "ug_m3", (0, 50, 150, 250, 350, 420, 500, 600)),
    "co_24h": _china("co", 24, "mg_m3", (0, 2, 4, 14, 24, 36, 48, 60)),
    "co_1h": _china("co", 1, "mg_m3", (0, 5, 10, 35, 60, 90, 120, 150)),
    "o3_1h": _china("o3", 1, "ug_m3", (0, 160, 200, 300, 400, 800, 1000, 1200)),
    "o3_8h": _china("o3", 8, "ug_m3", (0, 100, 160, 215, 265, 800), beyond="none"),
    "pm25_24h": _china("pm25", 24, "ug_m3", (0, 35, 75, 115, 150, 250, 350, 500)),
}
# EPA-454/B-24-002 Tables 1-2 (colours R,G,B: 0,228,0; 255,255,0; 255,126,0; 255,0,0;
# 143,63,151; 126,0,35). HJ 633-2012 Table 2 and Appendix A (0,228,0; 255,255,0; 255,126,0;
# 255,0,0; 153,0,76; 126,0,35).
EPA_CATEGORIES = (
    Category("Good", "", 0, "#00E400"),
    Category("Moderate", "", 51, "#FFFF00"),
    Category("Unhealthy for Sensitive Groups", "", 101, "#FF7E00"),
    Category("Unhealthy", "", 151, "#FF0000"),
    Category("Very Unhealthy", "", 201, "#8F3F97"),
    Category("Hazardous", "", 301, "#7E0023"),
)
CHINA_CATEGORIES = (
    Category("Excellent", "优", 0, "#00E400"),
    Category("Good", "良", 51, "#FFFF00"),
    Category("Lightly polluted", "轻度污染", 101, "#FF7E00"),
    Category("Moderately polluted", "中度污染", 151, "#FF0000"),
    Category("Heavily polluted", "重度污染", 201, "#99004C"),
    Category("Severely polluted", "严重污染", 301, "#7E0023"),
)
# fmt: on


def molar_volume_l_per_mol(
    temp_c: float = REFERENCE_TEMP_C, pressure_hpa: float = REFERENCE_PRESSURE_HPA
) -> float:
    """Ideal-gas molar volume R·T/p in L/mol (24.465 L/mol at 25 °C and 1013.25 hPa)."""
    return GAS_CONSTANT_J_PER_MOL_K * (temp_c + 273.15) / (pressure_hpa * 100.0) * 1000.0


def ppb_from_ug_m3(ug_m3, pollutant: str, *, temp_c: float = REFERENCE_TEMP_C,
                   pressure_hpa: float = REFERENCE_PRESSURE_HPA):
    """Mixing ratio in ppb (nmol/mol) of a mass concentration in µg/m³: ppb = µg/m³ · Vm / M.

    ``pollutant`` is one of ``MOLAR_MASS_G_PER_MOL`` (co, no2, o3, so2); Vm is the molar volume
    at ``temp_c`` and ``pressure_hpa`` (default 25 °C, 1013.25 hPa, as EPA). Arrays and
    DataArrays pass through element-wise.
    """
    return ug_m3 * molar_volume_l_per_mol(temp_c, pressure_hpa) / _molar_mass(pollutant)


def ug_m3_from_ppb(ppb, pollutant: str, *, temp_c: float = REFERENCE_TEMP_C,
                   pressure_hpa: float = REFERENCE_PRESSURE_HPA):
    """Mass concentration in µg/m³ of a mixing ratio in ppb: µg/m³ = ppb · M / Vm."""
    return ppb * _molar_mass(pollutant) / molar_volume_l_per_mol(temp_c, pressure_hpa)


def sub_index(table: IndexTable, conc) -> np.ndarray:
    """The index of each concentration (in ``table.units``, a ``table.hours``-hour mean).

    Truncation, interpolation, rounding and the ends of the table as ``IndexTable`` says; NaN
    where there is no index (NaN input, below the first band, ``beyond="none"`` above the last).
    """
    c = np.asarray(conc, dtype=float)
    lo, hi, i_lo, i_hi = (np.array(col, dtype=float) for col in zip(*table.bands, strict=True))
    if table.step is not None:  # work in whole steps: exact band edges, exact .5 halves
        c = _whole_steps(c, table.step)
        lo, hi = np.round(lo / table.step), np.round(hi / table.step)
    band = np.clip(np.searchsorted(lo, c, side="right") - 1, 0, len(lo) - 1)
    with np.errstate(invalid="ignore"):
        inside = (c >= lo[0]) & (c <= hi[band])
        above = c > hi[-1]
    value = (i_hi[band] - i_lo[band]) * (c - lo[band]) / (hi[band] - lo[band]) + i_lo[band]
    value = np.floor(value + 0.5) if table.rounding == "half_up" else np.ceil(value - 1e-9)
    top = i_hi[-1] if table.beyond == "cap" else np.nan
    return np.where(inside, value, np.where(above, top, np.nan))


def _whole_steps(conc, step: float):
    """``conc`` truncated to whole multiples of ``step``, in steps (9.1 / 0.1 gives 91, not 90)."""
    return np.floor(np.round(conc / step, 6))


def aqi_category(aqi, categories: tuple[Category, ...]) -> np.ndarray:
    """The position of each AQI value in ``categories`` (int8; -1 where the AQI is NaN)."""
    values = np.asarray(aqi, dtype=float)
    lows = np.array([c.low for c in categories], dtype=float)
    index = np.searchsorted(lows, values, side="right") - 1
    return np.where(np.isfinite(values), index, -1).astype(np.int8)


def nowcast(series: xr.DataArray, *, hours: int = 12, min_weight: float = 0.5) -> xr.DataArray:
    """EPA NowCast of an hourly series: a weighted mean of the last ``hours`` hours.

    With c_i the value i hours ago (i = 0 the current hour), w = c_min / c_max over the window
    (= 1 - range/max), held within [``min_weight``, 1]: NowCast = Σ w^i c_i / Σ w^i over the
    valid hours. Valid only when 2 of the 3 most recent hours are. PM2.5 and PM10: 12 h, weight
    floor 0.5 (AirNow). O3: 8 h and no floor (``min_weight=0``), the AirNow ozone NowCast of
    2016; AirNow's later regression-based ozone NowCast is not implemented. Raw values are used
    (no truncation). ``series`` has a regular hourly ``time`` dimension.
    """
    _check_hourly(series.indexes["time"], str(series.name or "series"))
    values = series.transpose("time", ...).values.astype(float)
    lead = np.full((hours - 1, *values.shape[1:]), np.nan)
    window = np.lib.stride_tricks.sliding_window_view(
        np.concatenate([lead, values]), hours, axis=0
    )[..., ::-1]  # [..., i]: i hours ago
    ok = np.isfinite(window)
    c_max = np.where(ok, window, -np.inf).max(axis=-1)
    c_min = np.where(ok, window, np.inf).min(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        weight = np.clip(np.where(c_max > 0, c_min / c_max, 1.0), min_weight, 1.0)
    powers = np.where(ok, weight[..., None] ** np.arange(hours), 0.0)
    total = np.sum(powers * np.where(ok, window, 0.0), axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        result = np.where(ok[..., :3].sum(axis=-1) >= 2, total / powers.sum(axis=-1), np.nan)
    out = series.transpose("time", ...).copy(data=result)
    out.attrs = {**series.attrs, "cell_methods": f"time: mean (NowCast over {hours} hours)"}
    return out


def epa_aqi(
    ds: xr.Dataset,
    *,
    use_nowcast: bool = False,
    temp_c: float = REFERENCE_TEMP_C,
    pressure_hpa: float = REFERENCE_PRESSURE_HPA,
) -> xr.Dataset:
    """Hourly US EPA AQI (2024 breakpoints) of the ``aq_<pollutant>_<unit>`` series of ``ds``.

    Pollutants pm25, pm10, o3, co, so2, no2 in ug_m3, mg_m3, ppb or ppm (gases converted at
    ``temp_c``, ``pressure_hpa``). At each hour, from trailing means ending with that hour (a
    24-hour mean needs 18 hours, an 8-hour mean 6): PM2.5 and PM10 24-h means (or their NowCast
    with ``use_nowcast``); O3 the larger of the 8-h index (8-h mean, or the ozone NowCast; none
    above 0.200 ppm) and the 1-h index (1-h value, only from 0.125 ppm); CO the 8-h mean; NO2
    the 1-h value; SO2 the 1-h value below 305 ppb, else max(200, 24-h index). Index values
    beyond the table are capped at 500 ("beyond the AQI").

    Returns ``aqi_epa_<pollutant>`` sub-indices and ``aqi_epa`` (their maximum: NaN only where
    no pollutant has an index), each with a ``_qc`` variable (MISSING where NaN);
    ``aqi_epa_category`` (int8 position in ``EPA_CATEGORIES``, -1 without AQI) and
    ``aqi_epa_primary`` (the pollutant(s) with the highest sub-index, EPA's critical pollutant).
    """
    _check_hourly(ds.indexes["time"], _where(ds))
    conc = _pollutant_series(ds)
    t = EPA_TABLES

    def get(pollutant: str, units: str) -> xr.DataArray:
        return _convert(conc[pollutant], pollutant, units, temp_c, pressure_hpa, _where(ds))

    def mean(series: xr.DataArray, hours: int) -> xr.DataArray:
        return _trailing_mean(series, hours, EPA_MIN_HOURS[hours])

    sub = {}
    for pm in ("pm25", "pm10"):
        if pm in conc:
            series = get(pm, "ug_m3")
            average = nowcast(series) if use_nowcast else mean(series, 24)
            sub[pm] = _index(t[f"{pm}_24h"], average)
    if "o3" in conc:
        o3 = get("o3", "ppm")
        eight = nowcast(o3, hours=8, min_weight=0.0) if use_nowcast else mean(o3, 8)
        sub["o3"] = np.fmax(_index(t["o3_8h"], eight), _index(t["o3_1h"], o3))
    if "co" in conc:
        sub["co"] = _index(t["co_8h"], mean(get("co", "ppm"), 8))
    if "so2" in conc:
        so2 = get("so2", "ppb")
        day = np.fmax(_index(t["so2_24h"], mean(so2, 24)), 200.0)
        sub["so2"] = _index(t["so2_1h"], so2).where(~(_whole_steps(so2, 1) >= 305), day)
    if "no2" in conc:
        sub["no2"] = _index(t["no2_1h"], get("no2", "ppb"))
    pm_rule = "NowCast (12 h)" if use_nowcast else "24-h mean"
    return _assemble(ds, sub, "aqi_epa", "US EPA AQI", EPA_CATEGORIES, min_primary=-np.inf, attrs={
        "standard": "US EPA AQI, 2024 breakpoints (EPA-454/B-24-002)",
        "averaging": f"PM: {pm_rule}; O3: max(8-h {'NowCast' if use_nowcast else 'mean'}, 1-h); "
                     "CO: 8-h mean; NO2: 1-h; SO2: 1-h below 305 ppb, else 24-h; trailing "
                     "windows ending at each hour, 24-h needs 18 h, 8-h needs 6 h",
        "conversion": f"ug/m3 to ppb at {temp_c} degC and {pressure_hpa} hPa",
        "references": _EPA_REFERENCES,
    })


def china_aqi(ds: xr.Dataset) -> xr.Dataset:
    """Hourly AQI of HJ 633-2012 of the ``aq_<pollutant>_<unit>`` series of ``ds``.

    IAQI at each hour: PM2.5 and PM10 from the 24-h trailing mean (their limits are 24-h limits;
    20 of 24 hours needed); SO2, NO2 and CO from the 1-h value with the 1-h limits, except SO2
    above 800 ug/m3, which takes the 24-h IAQI; O3 the larger of the 1-h IAQI and the 8-h
    trailing-mean IAQI (6 of 8 hours; none above 800 ug/m3). Every IAQI is rounded up to an
    integer; above the table's top it is 500.
    The AQI is the largest IAQI (NaN only where none exists); the primary pollutant(s) are those
    with the largest IAQI when the AQI exceeds 50.

    Returns ``aqi_china_<pollutant>``, ``aqi_china`` (each with ``_qc``, MISSING where NaN),
    ``aqi_china_category`` (int8 position in ``CHINA_CATEGORIES``, -1 without AQI) and
    ``aqi_china_primary`` ("" at AQI <= 50; ties joined with ",").
    """
    _check_hourly(ds.indexes["time"], _where(ds))
    conc = _pollutant_series(ds)
    t = CHINA_TABLES

    def get(pollutant: str, units: str) -> xr.DataArray:
        return _convert(conc[pollutant], pollutant, units, REFERENCE_TEMP_C,
                        REFERENCE_PRESSURE_HPA, _where(ds))

    def mean(series: xr.DataArray, hours: int) -> xr.DataArray:
        return _trailing_mean(series, hours, CHINA_MIN_HOURS[hours])

    sub = {}
    for pm in ("pm25", "pm10"):
        if pm in conc:
            sub[pm] = _index(t[f"{pm}_24h"], mean(get(pm, "ug_m3"), 24))
    if "o3" in conc:
        o3 = get("o3", "ug_m3")
        sub["o3"] = np.fmax(_index(t["o3_1h"], o3), _index(t["o3_8h"], mean(o3, 8)))
    if "co" in conc:
        sub["co"] = _index(t["co_1h"], get("co", "mg_m3"))
    if "so2" in conc:
        so2 = get("so2", "ug_m3")
        day = _index(t["so2_24h"], mean(so2, 24))
        sub["so2"] = _index(t["so2_1h"], so2).where(~(so2 > 800), day)
    if "no2" in conc:
        sub["no2"] = _index(t["no2_1h"], get("no2", "ug_m3"))
    return _assemble(ds, sub, "aqi_china", "China AQI", CHINA_CATEGORIES, min_primary=50, attrs={
        "standard": "HJ 633-2012 AQI, hourly",
        "averaging": "PM2.5, PM10: 24-h mean (20 h needed); O3: max(1-h, 8-h mean (6 h needed)); "
                     "SO2: 1-h, above 800 ug/m3 the 24-h mean; NO2, CO: 1-h; trailing windows "
                     "ending at each hour",
        "references": _CHINA_REFERENCES,
    })


def _where(ds: xr.Dataset) -> str:
    return str(ds.attrs.get("source", "dataset"))


def _molar_mass(pollutant: str) -> float:
    if pollutant not in MOLAR_MASS_G_PER_MOL:
        raise DataError(f"pollutant must be one of {sorted(MOLAR_MASS_G_PER_MOL)} to convert "
                        f"between ug/m3 and ppb (got {pollutant!r})")
    return MOLAR_MASS_G_PER_MOL[pollutant]


def _convert(series: xr.DataArray, pollutant: str, units: str, temp_c: float,
             pressure_hpa: float, where: str) -> xr.DataArray:
    """``series`` (named ``aq_<pollutant>_<unit>``) in ``units``."""
    source = str(series.name).removeprefix(f"aq_{pollutant}_")
    if source == units:
        return series
    if (source in _PER_PPB or units in _PER_PPB) and pollutant not in MOLAR_MASS_G_PER_MOL:
        raise DataError(f"{where}: {series.name} must be a mass concentration (ug_m3 or mg_m3) "
                        f"for the AQI (got {source})")
    conditions = {"temp_c": temp_c, "pressure_hpa": pressure_hpa}
    ug = (series / _PER_UG_M3[source] if source in _PER_UG_M3
          else ug_m3_from_ppb(series / _PER_PPB[source], pollutant, **conditions))
    if units in _PER_UG_M3:
        return ug * _PER_UG_M3[units]
    return ppb_from_ug_m3(ug, pollutant, **conditions) * _PER_PPB[units]


def _pollutant_series(ds: xr.Dataset) -> dict[str, xr.DataArray]:
    """The ``aq_<pollutant>_<unit>`` series of ``ds`` by pollutant (one each)."""
    found: dict[str, xr.DataArray] = {}
    for name in ds.data_vars:
        match = _AQ_SERIES.match(str(name))
        if not match:
            continue
        if match[1] in found:
            raise DataError(f"{_where(ds)}: one series per pollutant is allowed (got "
                            f"{found[match[1]].name} and {name})")
        found[match[1]] = ds[name]
    if not found:
        raise DataError(f"{_where(ds)}: an air-quality series aq_<pollutant>_<unit> is required, "
                        f"pollutant in {tuple(_POLLUTANTS)}, unit in ug_m3, mg_m3, ppb, ppm "
                        f"(got {sorted(map(str, ds.data_vars))[:8]})")
    return found


def _check_hourly(times: pd.DatetimeIndex, where: str) -> None:
    steps = np.diff(times.values)
    bad = np.flatnonzero(steps != np.timedelta64(1, "h"))
    if bad.size:
        raise DataError(f"{where}: time must be hourly without gaps for the AQI (got a step of "
                        f"{pd.Timedelta(steps[bad[0]])} after {times[bad[0]]})")


def _trailing_mean(series: xr.DataArray, hours: int, min_hours: int) -> xr.DataArray:
    """Mean of the ``hours`` hours ending at each hour; NaN with fewer than ``min_hours`` valid."""
    return series.rolling(time=hours, min_periods=min_hours).mean()


def _index(table: IndexTable, conc: xr.DataArray) -> xr.DataArray:
    return conc.copy(data=sub_index(table, conc.values))


def _assemble(ds: xr.Dataset, sub: dict[str, xr.DataArray], prefix: str, label: str,
              categories: tuple[Category, ...], *, min_primary: float, attrs: dict) -> xr.Dataset:
    """The AQI dataset: sub-indices, their maximum, its category and the primary pollutant(s)."""
    names = list(sub)
    arrays = xr.broadcast(*(sub[p] for p in names))
    dims = arrays[0].dims
    arrays = [a.transpose(*dims).drop_attrs() for a in arrays]
    stack = np.stack([a.values for a in arrays])
    aqi = np.fmax.reduce(stack, axis=0)
    out = xr.Dataset(coords=arrays[0].coords)
    index_attrs = series_attrs("1", "", Rule.POINT)
    for name, array in zip(names, arrays, strict=True):
        long_name = f"{label} sub-index of {_POLLUTANTS[name]}"
        add_series(out, f"{prefix}_{name}", array, range_flags(array.values, 0, np.inf),
                   {**index_attrs, "long_name": long_name})
    total = arrays[0].copy(data=aqi)
    add_series(out, prefix, total, range_flags(aqi, 0, np.inf), {**index_attrs, "long_name": label})
    out[f"{prefix}_category"] = (dims, aqi_category(aqi, categories), {
        "long_name": f"{label} category",
        "flag_values": np.arange(len(categories), dtype=np.int8),
        "flag_meanings": " ".join(c.name.lower().replace(" ", "_") for c in categories),
        "flag_colors": " ".join(c.color for c in categories),
        "comment": "-1: no AQI",
    })
    when = f" when the AQI exceeds {min_primary:g}" if np.isfinite(min_primary) else ""
    out[f"{prefix}_primary"] = (dims, _primary(stack, aqi, names, min_primary), {
        "long_name": f"pollutant(s) with the highest {label} sub-index{when}",
    })
    out.attrs = {"title": f"{label}: {ds.attrs.get('title', _where(ds))}", "source": _where(ds),
                 "source_timezone": ds.attrs.get("source_timezone", ""), **attrs}
    return out


def _primary(stack: np.ndarray, aqi: np.ndarray, names: list[str], min_aqi: float) -> np.ndarray:
    """Labels of the pollutants whose sub-index equals the AQI ("" at AQI <= ``min_aqi``)."""
    with np.errstate(invalid="ignore"):
        top = (stack == aqi) & (aqi > min_aqi)
    code = np.zeros(aqi.shape, dtype=np.int64)
    for bit, is_top in enumerate(top):
        code |= is_top.astype(np.int64) << bit
    labels = [",".join(_POLLUTANTS[n] for b, n in enumerate(names) if c >> b & 1)
              for c in range(2 ** len(names))]
    return np.array(labels, dtype=object)[code]


# =========================================================================== sensor QC, calibration

# The low-cost array of AirQualityUCI (metal-oxide PT08 sensors) with the weather it drifts with.
CALIBRATION_FEATURES = (
    "sensor_pt08_s1_co", "sensor_pt08_s2_nmhc", "sensor_pt08_s3_nox", "sensor_pt08_s4_no2",
    "sensor_pt08_s5_o3", "weather_temp_c", "weather_rh_percent", "weather_ah_kpa",
)
CALIBRATION_TARGETS = ("ref_co_mg_m3", "ref_nox_ppb", "ref_no2_ug_m3", "ref_benzene_ug_m3")
TRAIN_FRACTION = 0.7


def qc_report(ds: xr.Dataset) -> list[dict]:
    """Coverage and QC-flag counts per station and series.

    Covers every series with a ``<name>_qc`` variable on dims (time,) or (time, station); other
    series (e.g. per load or sgen) are left out. One row per station (station "" for (time,)) and
    series, stations in dataset order: ``station``, ``variable``, ``steps`` (time steps),
    ``valid`` (finite values), ``coverage_percent`` (100 valid/steps) and the number of steps
    carrying each flag of ``QC`` (``missing``, ``gap``, ``out_of_range``, ``sentinel``,
    ``spike``, ``stuck``; a step may carry several).
    """
    names = [str(n) for n in ds.data_vars
             if qc_name(str(n)) in ds and ds[n].dims in (("time",), ("time", "station"))]
    stations = ds["station"].values.tolist() if "station" in ds.dims else [""]
    rows: dict[tuple[str, str], dict] = {}
    for name in names:
        values = ds[name].values.reshape(ds.sizes["time"], -1)
        flags = ds[qc_name(name)].values.reshape(values.shape)
        valid = np.isfinite(values).sum(axis=0)
        counts = {f.name.lower(): np.count_nonzero(flags & f, axis=0) for f in QC}
        labels = stations if ds[name].ndim == 2 else [""]
        for j, station in enumerate(labels):
            rows[(station, name)] = {
                "station": station, "variable": name, "steps": values.shape[0],
                "valid": int(valid[j]), "coverage_percent": float(100 * valid[j] / values.shape[0]),
                **{flag: int(count[j]) for flag, count in counts.items()},
            }
    order = dict.fromkeys([*stations, ""])  # the stations, then the single-site series
    return [rows[(s, n)] for s in order for n in names if (s, n) in rows]


def calibrate_sensors(
    source: str | Path | xr.Dataset, *, train_fraction: float = TRAIN_FRACTION
) -> list[dict]:
    """Calibrate the AirQualityUCI sensor array against its co-located reference analysers.

    ``source`` is the AirQualityUCI file or :func:`~gridopt.io.airquality.open_airquality_uci`'s
    dataset. For each of ``CALIBRATION_TARGETS`` (reference CO mg/m³, NOx ppb, NO2 µg/m³,
    benzene µg/m³) an ordinary least-squares fit (statsmodels OLS, with intercept) on the five
    PT08 sensor responses, temperature, relative and absolute humidity (``CALIBRATION_FEATURES``)
    is trained on the hours before the split time (the first ``train_fraction`` of the file's
    hours) and tested on the rest, using hours where the target and every feature are valid.

    One row per target: ``target``, ``units``, ``split_utc``, ``n_train``, ``n_test``,
    ``r2_train``, ``r2_test`` (1 - SSE/SST about the test mean) and ``rmse_test`` (in ``units``).
    """
    import statsmodels.api as sm  # heavy import, only needed here

    ds = source if isinstance(source, xr.Dataset) else open_airquality_uci(source)
    missing = [n for n in (*CALIBRATION_FEATURES, *CALIBRATION_TARGETS) if n not in ds]
    if missing:
        raise DataError(f"{_where(ds)}: variable '{missing[0]}' is required for sensor calibration")
    if not 0 < train_fraction < 1:
        raise DataError(f"train_fraction must be in (0, 1) (got {train_fraction})")
    features = np.column_stack([ds[n].values for n in CALIBRATION_FEATURES])
    split = int(train_fraction * ds.sizes["time"])
    train = np.arange(ds.sizes["time"]) < split
    rows = []
    for target in CALIBRATION_TARGETS:
        y = ds[target].values
        usable = np.isfinite(y) & np.isfinite(features).all(axis=1)
        fit = sm.OLS(y[usable & train], sm.add_constant(features[usable & train])).fit()
        test = usable & ~train
        predicted = fit.predict(sm.add_constant(features[test]))
        residual = y[test] - predicted
        rows.append({
            "target": target, "units": ds[target].attrs.get("units", ""),
            "split_utc": str(ds.indexes["time"][split]),
            "n_train": int(fit.nobs), "n_test": int(test.sum()),
            "r2_train": float(fit.rsquared),
            "r2_test": float(1 - np.sum(residual**2) / np.sum((y[test] - y[test].mean()) ** 2)),
            "rmse_test": float(np.sqrt(np.mean(residual**2))),
        })
    return rows
