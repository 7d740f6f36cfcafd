"""China's official grid CO2 emission factors (MEE/NBS), by province or regional grid.

File: ``emission_factors/china_grid_co2_factors_2021_2022.csv`` with columns ``level``
(province/region), ``name_zh``, ``name_en``, ``factor_2021_kgCO2_per_kWh``,
``factor_2022_kgCO2_per_kWh``. These are annual *average* factors; no marginal factor is
published, so the marginal signal is set equal to the average and labelled as such
(``method`` attribute) rather than guessed.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from gridopt.errors import DataError
from gridopt.io.series import Rule, add_series, series_attrs

__all__ = ["china_grid_factor_t_per_mwh", "open_china_grid_factors"]


def china_grid_factor_t_per_mwh(path: str | Path, region: str, year: int) -> float:
    """The annual factor of ``region`` (English name, e.g. 'Beijing', 'North China') in t/MWh."""
    path = Path(path)
    try:
        table = pd.read_csv(path)
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from None
    column = f"factor_{year}_kgCO2_per_kWh"
    if column not in table.columns:
        years = [c.split("_")[1] for c in table.columns if c.startswith("factor_")]
        raise DataError(f"{path}: year must be one of {years} (got {year})")
    rows = table[table["name_en"].str.lower() == region.lower()]
    if rows.empty:
        raise DataError(
            f"{path}: region must be one of the name_en values, e.g. 'Beijing' or 'North China' "
            f"(got {region!r})"
        )
    return float(rows[column].iloc[0])  # kg/kWh == t/MWh


def open_china_grid_factors(
    path: str | Path, *, region: str, year: int, start: datetime, end: datetime
) -> xr.Dataset:
    """Hourly constant ``ext_grid_co2_average_t_per_mwh`` and ``..._marginal_...`` over [start, end)."""
    factor = china_grid_factor_t_per_mwh(path, region, year)
    time = pd.date_range(start, end, freq="1h", inclusive="left")
    ds = xr.Dataset(coords={"time": time}, attrs={"source": Path(path).name, "region": region})
    values = xr.DataArray(np.full(time.size, factor), dims="time", coords={"time": time})
    for kind in ("average", "marginal"):
        add_series(
            ds,
            f"ext_grid_co2_{kind}_t_per_mwh",
            values,
            None,
            series_attrs(
                "t/MWh",
                f"grid CO2 intensity ({kind})",
                Rule.MEAN,
                method=f"official {year} average factor for {region}; no marginal factor is "
                "published, so marginal = average",
            ),
        )
    return ds
