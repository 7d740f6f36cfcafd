"""Typical meteorological year (TMY3) weather, read with pvlib, and a PV availability profile.

TMY3 rows are stamped in local standard time (a fixed UTC offset, the ``TZ`` field of the
header; no daylight saving) at the *end* of the hour, and irradiance is the mean of that hour.
gridopt labels each hour by its start (as ``resample`` does), so ``time`` = stamp − 1 h −
offset: the Greensboro row "01/01/1988,01:00" (UTC−5) becomes 05:00 UTC. Temperature,
humidity and wind are point readings at the stamp and move with their row. The months of a
TMY come from different years; they are put on one calendar year (``year``, default 2021).

pvlib ships TMY3 files (``723170TYA.CSV`` Greensboro NC, ``703165TY.csv`` Sand Point AK):
:func:`builtin_tmy_path` finds them, so a model can get weather and a PV profile offline.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pvlib
import xarray as xr

from gridopt.errors import DataError
from gridopt.io.generic import require_file, utc_time_attrs
from gridopt.io.series import QC, Rule, add_series, range_flags, regular_time, series_attrs, to_utc

__all__ = ["builtin_tmy_path", "open_tmy", "pv_availability_from_weather"]

# pvlib name -> (gridopt name, units, long name, valid range)
_VARIABLES = {
    "ghi": ("weather_ghi_w_m2", "W m-2", "global horizontal irradiance", (0.0, 1500.0)),
    "dni": ("weather_dni_w_m2", "W m-2", "direct normal irradiance", (0.0, 1500.0)),
    "dhi": ("weather_dhi_w_m2", "W m-2", "diffuse horizontal irradiance", (0.0, 1000.0)),
    "temp_air": ("weather_temp_c", "degC", "dry-bulb air temperature", (-60.0, 60.0)),
    "wind_speed": ("weather_wind_speed_m_s", "m s-1", "wind speed at 10 m", (0.0, 60.0)),
    "relative_humidity": ("weather_rh_percent", "percent", "relative humidity", (0.0, 100.0)),
}
_NO_DATA = -9900.0  # TMY3 code for a missing value

GAMMA_PER_K = -0.004
"""Power temperature coefficient of the PV availability model (crystalline silicon), 1/K."""


def builtin_tmy_path(name: str = "723170TYA.CSV") -> Path:
    """Path of a TMY3 file shipped in pvlib's package data."""
    path = Path(pvlib.__file__).parent / "data" / name
    if not path.is_file():
        found = sorted(p.name for p in path.parent.glob("*TY*.*"))
        raise DataError(f"pvlib data: TMY file {name!r} not found (found {found})")
    return path


def open_tmy(path: str | Path, *, year: int = 2021) -> xr.Dataset:
    """Read a TMY3 file into hourly series on a UTC index (labels: start of the hour).

    Series: ``weather_ghi_w_m2``, ``weather_dni_w_m2``, ``weather_dhi_w_m2`` (hourly means),
    ``weather_temp_c``, ``weather_wind_speed_m_s``, ``weather_rh_percent``, each with ``_qc``
    (-9900, the TMY3 no-data code, and out-of-range values become NaN). Attributes: ``latitude``, ``longitude`` (degrees, east
    positive), ``altitude`` (m), ``station_name``, ``utc_offset_h`` and ``source_timezone``.
    """
    path = require_file(path)
    data, meta = _read(path, year)
    offset_h = float(meta["TZ"])
    tz = _fixed_offset_zone(offset_h, path.name)
    local_start = data.index.tz_localize(None) - pd.Timedelta(hours=1)
    frame = data[list(_VARIABLES)].set_axis(to_utc(local_start, tz, where=path.name))
    frame, gap = regular_time(frame, "h", where=path.name)
    ds = xr.Dataset(coords={"time": ("time", frame.index.values, utc_time_attrs())})
    for column, (name, units, long_name, (low, high)) in _VARIABLES.items():
        values = frame[column].to_numpy(dtype=float)
        checked = np.where(values == _NO_DATA, QC.SENTINEL, range_flags(values, low, high))
        flags = np.where(gap, QC.GAP, checked).astype(np.uint8)
        values = np.where(flags & (QC.OUT_OF_RANGE | QC.SENTINEL), np.nan, values)
        attrs = series_attrs(units, long_name, Rule.MEAN)
        add_series(ds, name, xr.DataArray(values, dims="time"), flags, attrs)
    ds.attrs = {
        "source": path.name,
        "title": f"typical meteorological year, {_station_name(meta)}",
        "station_name": _station_name(meta),
        "latitude": float(meta["latitude"]),
        "longitude": float(meta["longitude"]),
        "altitude": float(meta["altitude"]),
        "utc_offset_h": offset_h,
        "source_timezone": tz,
        "institution": "NREL (TMY3, National Solar Radiation Database)",
        "references": "Wilcox, S. & Marion, W. (2008), Users Manual for TMY3 Data Sets, "
        "NREL/TP-581-43156",
        "time_label": "start of the hour (TMY3 stamps the end)",
    }
    return ds


def _read(path: Path, year: int) -> tuple[pd.DataFrame, dict]:
    try:
        data, meta = pvlib.iotools.read_tmy3(path, coerce_year=year, map_variables=True)
    except (ValueError, KeyError, IndexError, OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path.name}: cannot be read as a TMY3 file ({exc})") from None
    absent = [c for c in _VARIABLES if c not in data.columns]
    if absent:
        raise DataError(f"{path.name}: TMY3 column for {absent[0]!r} is missing")
    return data, meta


def _station_name(meta: dict) -> str:
    return str(meta.get("Name", "")).strip('"').strip()


def _fixed_offset_zone(offset_h: float, where: str) -> str:
    """IANA name of a whole-hour fixed offset: UTC−5 is "Etc/GMT+5" (POSIX sign)."""
    if offset_h != int(offset_h) or abs(offset_h) > 14:
        raise DataError(
            f"{where}: TZ must be a whole number of hours in [-14, 14] (got {offset_h})"
        )
    return "UTC" if offset_h == 0 else f"Etc/GMT{-int(offset_h):+d}"


def pv_availability_from_weather(
    ds: xr.Dataset, tilt_deg: float, azimuth_deg: float
) -> xr.DataArray:
    """Available PV power per unit of DC rating, ``pv_p_max_pu(time)``, from TMY-style weather.

    Plane-of-array irradiance from GHI, DNI and DHI (pvlib, isotropic sky, albedo 0.25) at
    the sun's position in the middle of each hour, cell temperature from the Faiman model
    (air temperature and wind), then PVWatts DC:
    ``POA / 1000 W/m² × (1 + γ (T_cell − 25 °C))`` with γ = :data:`GAMMA_PER_K`; floored at 0.
    ``tilt_deg`` from horizontal, ``azimuth_deg`` clockwise from north (180 = facing south).
    Inverter, soiling, wiring and angle-of-incidence losses are not modelled, so clear noons
    can exceed 1 slightly.
    """
    times = ds.indexes["time"] + pd.Timedelta(minutes=30)
    sun = pvlib.solarposition.get_solarposition(
        times.tz_localize("UTC"), ds.attrs["latitude"], ds.attrs["longitude"],
        altitude=ds.attrs.get("altitude"),
    )
    irradiance = {k: ds[f"weather_{k}_w_m2"].values for k in ("ghi", "dni", "dhi")}
    poa = pvlib.irradiance.get_total_irradiance(
        tilt_deg, azimuth_deg, sun["apparent_zenith"].values, sun["azimuth"].values,
        irradiance["dni"], irradiance["ghi"], irradiance["dhi"],
    )["poa_global"]
    poa = np.where(sun["apparent_zenith"].values < 90, poa, 0.0)  # NaN weather stays NaN
    cell_c = pvlib.temperature.faiman(
        poa, ds["weather_temp_c"].values, ds["weather_wind_speed_m_s"].values
    )
    p = pvlib.pvsystem.pvwatts_dc(poa, cell_c, pdc0=1.0, gamma_pdc=GAMMA_PER_K)
    return xr.DataArray(
        np.maximum(np.asarray(p, dtype=float), 0.0),
        coords={"time": ds["time"]},
        dims="time",
        name="pv_p_max_pu",
        attrs=series_attrs(
            "1", "available PV power per unit of DC rating", Rule.MEAN,
            comment=f"pvlib isotropic POA, Faiman cell temperature, PVWatts DC with gamma "
            f"{GAMMA_PER_K}/K; tilt {tilt_deg} deg, azimuth {azimuth_deg} deg",
        ),
    )
