"""State Grid Corporation of China PV plant data (Chen & Xu 2022), 15-minute, 2019–2020.

Files ``sgcc_solar_site<k>_<capacity>MW_2019-2020_15min.csv.gz``: irradiance (total, direct
normal, global horizontal, W/m²), air temperature, pressure, relative humidity and plant output
(MW).
Times are Beijing time (UTC+8, no daylight saving): over a year the irradiance-weighted mean hour
is 13:35 at site 1 and 12:20 at site 5, solar noon at about 96° E and 115° E, both in China,
which rules out UTC stamps.

No-data codes, all set to NaN with ``QC.SENTINEL``: ``--`` (whole rows at site 5), ``-99``
(whole weather rows at site 1), and 16-bit register codes stored with one decimal: ±3276.x
(signed overflow) and 6500–6553.5 (an unsigned register that wrapped below zero; 6553.5 is
65535/10; site 1 humidity has 6,747 of them). Physical ranges (NaN + ``QC.OUT_OF_RANGE``):
output in [−0.01, 1.05] × capacity, irradiance in [0, 1500] W/m², temperature in
[−50, 60] °C, pressure in [500, 1100] hPa, humidity in [0, 100] %.
"""

from __future__ import annotations

import re
from pathlib import Path

import xarray as xr

from gridopt.errors import DataError
from gridopt.io.generic import ColumnSpec, open_csv_series, require_file
from gridopt.io.series import Rule, add_series, qc_name, series_attrs

__all__ = ["SENTINELS", "open_sgcc_pv"]

SENTINELS = ("--", -99.0, (-3276.8, -3276.0), (3276.0, 3276.8), (6500.0, 6553.6))
"""No-data codes of the SGCC files (see the module docstring)."""

_TIME_COLUMN = "Time(year-month-day h:m:s)"
_IRRADIANCE_RANGE = (0.0, 1500.0)


def _columns(capacity_mw: float) -> dict[str, ColumnSpec]:
    def spec(name, units, long_name, valid_range):
        return ColumnSpec(name, units, long_name, Rule.MEAN, valid_range, SENTINELS)

    return {
        "Total solar irradiance (W/m2)": spec(
            "irradiance_total_w_m2", "W m-2", "total solar irradiance (as named by the source)",
            _IRRADIANCE_RANGE,
        ),
        "Direct normal irradiance (W/m2)": spec(
            "irradiance_dni_w_m2", "W m-2", "direct normal irradiance", _IRRADIANCE_RANGE
        ),
        "Global horizontal irradiance (W/m2)": spec(
            "irradiance_ghi_w_m2", "W m-2", "global horizontal irradiance", _IRRADIANCE_RANGE
        ),
        "Air temperature (°C)": spec("weather_temp_c", "degC", "air temperature", (-50.0, 60.0)),
        "Atmosphere (hpa)": spec(
            "weather_pressure_hpa", "hPa", "atmospheric pressure", (500.0, 1100.0)
        ),
        "Relative humidity (%)": spec(
            "weather_rh_percent", "percent", "relative humidity", (0.0, 100.0)
        ),
        "Power (MW)": spec(
            "pv_p_mw", "MW", "PV plant output (injection positive)",
            (-0.01 * capacity_mw, 1.05 * capacity_mw),
        ),
    }


def _capacity_from_name(path: Path) -> float:
    match = re.search(r"_(\d+(?:\.\d+)?)MW_", path.name)
    if match is None:
        raise DataError(
            f"{path.name}: file name must state the capacity as '_<number>MW_' "
            "(or pass capacity_mw)"
        )
    return float(match.group(1))


def open_sgcc_pv(path: str | Path, *, capacity_mw: float | None = None) -> xr.Dataset:
    """Read one SGCC PV plant file into a Dataset on a regular 15-min UTC index.

    Series: ``pv_p_mw`` (output, MW, injection positive), ``pv_availability_pu`` (output /
    capacity, carrying the output's flags), ``irradiance_{total,dni,ghi}_w_m2``,
    ``weather_temp_c``, ``weather_pressure_hpa``, ``weather_rh_percent``, each with its ``_qc``.
    ``capacity_mw`` defaults to the figure in the file name (50 or 110) and is stored in the
    attribute ``pv_capacity_mw``.
    """
    path = require_file(path)
    capacity = _capacity_from_name(path) if capacity_mw is None else float(capacity_mw)
    ds = open_csv_series(
        path,
        time_column=_TIME_COLUMN,
        columns=_columns(capacity),
        timezone="Asia/Shanghai",
        step="15min",
        attrs={
            "title": f"PV plant of {capacity:g} MW, State Grid Corporation of China",
            "institution": "State Grid Corporation of China (renewable forecasting competition)",
            "references": "Chen, Y. & Xu, J. (2022), Scientific Data 9:577, "
            "doi:10.1038/s41597-022-01696-6",
            "license": "CC BY 4.0",
            "pv_capacity_mw": capacity,
        },
    )
    add_series(
        ds,
        "pv_availability_pu",
        ds["pv_p_mw"] / capacity,
        ds[qc_name("pv_p_mw")].values,
        series_attrs("1", "PV output per unit of plant capacity", Rule.MEAN),
    )
    return ds
