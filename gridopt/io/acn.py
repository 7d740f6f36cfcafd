"""ACN-Data EV charging sessions (Lee, Li & Low 2019), as returned by the ACN-Data API.

The file is the API's JSON (optionally gzipped): ``{"_meta": {...}, "_items": [session, ...]}``
with times as RFC 1123 strings in GMT ("Tue, 01 Dec 2020 13:59:06 GMT"), so they are UTC
already; the site's local zone (``timezone`` of each item) is kept as ``source_timezone``.
A session's ``userInputs`` is null when the driver gave no input through the app, else a list of
the driver's successive entries; the last one holds the request that stood at departure.
The entries carry no charging-power limit, so ``ev_p_max_mw`` comes from the station:
``station_p_max_kw`` where listed, else ``default_p_max_kw``.

``ev_qc`` flags each session, keeping all of them: ``QC.MISSING`` when no energy was requested,
``QC.OUT_OF_RANGE`` when the session is infeasible as given (disconnect not after connect, or
requested energy above ``p_max`` × plugged time). Time variables are naive UTC with a
``timezone`` attribute and no ``units`` (the NetCDF encoder writes CF time units).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd
import xarray as xr

from gridopt.errors import DataError
from gridopt.io.generic import require_file
from gridopt.io.series import QC, add_series, qc_name, to_utc

__all__ = ["CALTECH_STATION_P_MAX_KW", "open_acn_sessions", "sessions_in_window"]

CALTECH_STATION_P_MAX_KW = MappingProxyType({"2-39-81-4550": 50.0})
"""Stations of the Caltech site that are not 6.6 kW level-2 ports. ``2-39-81-4550`` (space
11900388) is a Tritium Veefil 50 kW DC fast charger: its sessions average 31 kW (median) and
up to 46 kW over the whole plugged time, which no level-2 port can deliver."""

_TIME_FORMAT = "%a, %d %b %Y %H:%M:%S GMT"
_SOURCE_TIMEZONE = "America/Los_Angeles"
_REQUIRED = ("sessionID", "connectionTime", "disconnectTime", "kWhDelivered", "stationID")
_TIME_FIELDS = {  # column -> ACN-Data field it comes from
    "arrival": "connectionTime",
    "departure": "disconnectTime",
    "done": "doneChargingTime",
    "requested_departure": "userInputs[-1].requestedDeparture",
}


def open_acn_sessions(
    path: str | Path,
    *,
    default_p_max_kw: float = 6.6,
    station_p_max_kw: Mapping[str, float] = CALTECH_STATION_P_MAX_KW,
) -> xr.Dataset:
    """Read ACN-Data sessions into a Dataset with dimension ``session`` (the sessionID).

    Variables (times naive UTC): ``ev_arrival_time`` (connection), ``ev_departure_time``
    (disconnection), ``ev_done_charging_time`` (NaT when not reported),
    ``ev_energy_delivered_mwh``, ``ev_energy_requested_mwh`` and
    ``ev_requested_departure_time`` (the driver's last input; NaN/NaT without one),
    ``ev_p_max_mw`` (charging power limit, station rating or ``default_p_max_kw``),
    ``ev_station``, ``ev_space`` and the session flags ``ev_qc``. Energies are drawn from the
    grid by the vehicle (positive).
    """
    path = require_file(path)
    items, meta = _read_items(path)
    frame = pd.DataFrame([_session_fields(item, path.name, i) for i, item in enumerate(items)])
    if frame["session"].duplicated().any():
        dup = frame["session"][frame["session"].duplicated()].iloc[0]
        raise DataError(f"{path.name}: sessionID must be unique (got {dup!r} twice)")
    times = {
        col: to_utc(_parse_times(frame, col, path.name), "UTC", where=f"{path.name}: {col}")
        for col in _TIME_FIELDS
    }
    p_max_kw = frame["station"].map(dict(station_p_max_kw)).fillna(default_p_max_kw)
    ds = _dataset(frame, times, p_max_kw.to_numpy(float))
    ds.attrs = {
        "source": path.name,
        "title": f"EV charging sessions, ACN-Data site {meta.get('site', 'unknown')}",
        "site": str(meta.get("site", "unknown")),
        "source_timezone": _SOURCE_TIMEZONE,
        "institution": "Caltech Adaptive Charging Network (ACN-Data)",
        "references": "Lee, Z. J., Li, T. & Low, S. H. (2019), ACN-Data: analysis and "
        "applications of an open EV charging dataset, e-Energy '19",
        "default_p_max_kw": float(default_p_max_kw),
    }
    return ds


def _read_items(path: Path) -> tuple[list[dict], dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path.name}: cannot be read as ACN-Data JSON ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("_items"), list):
        raise DataError(f"{path.name}: must be an object with an '_items' list (ACN-Data API)")
    return doc["_items"], doc.get("_meta") or {}


def _session_fields(item: dict, where: str, i: int) -> dict:
    absent = [key for key in _REQUIRED if item.get(key) is None]
    if absent:
        raise DataError(f"{where}: item {i} must have field {absent[0]!r} (got none)")
    inputs = item.get("userInputs") or []
    last = inputs[-1] if inputs else {}
    session = str(item["sessionID"])
    return {
        "session": session,
        "arrival": item["connectionTime"],
        "departure": item["disconnectTime"],
        "done": item.get("doneChargingTime"),
        "delivered_kwh": _number(item["kWhDelivered"], where, session, "kWhDelivered"),
        "requested_kwh": _number(last.get("kWhRequested"), where, session, "kWhRequested"),
        "requested_departure": last.get("requestedDeparture"),
        "station": str(item["stationID"]),
        "space": str(item.get("spaceID", "")),
    }


def _number(value, where: str, session: str, field: str) -> float:
    """A JSON number as float (None -> NaN); anything else is a DataError."""
    if value is None:
        return np.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DataError(
            f"{where}: session {session!r} field {field!r} must be a number (got {value!r})"
        )
    return float(value)


def _parse_times(frame: pd.DataFrame, column: str, where: str) -> pd.DatetimeIndex:
    text = frame[column]
    parsed = pd.to_datetime(text, format=_TIME_FORMAT, errors="coerce")
    bad = parsed.isna() & text.notna()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{where}: session {frame['session'].iloc[i]!r} field {_TIME_FIELDS[column]!r} "
            f"must be an RFC 1123 GMT time (got {text.iloc[i]!r})"
        )
    return pd.DatetimeIndex(parsed)


def _dataset(frame: pd.DataFrame, times: dict, p_max_kw: np.ndarray) -> xr.Dataset:
    requested_mwh = frame["requested_kwh"].to_numpy(float) / 1000
    plugged_h = (times["departure"] - times["arrival"]).total_seconds().to_numpy() / 3600
    with np.errstate(invalid="ignore"):
        infeasible = (plugged_h <= 0) | (requested_mwh > p_max_kw / 1000 * plugged_h)
    qc = np.where(np.isnan(requested_mwh), QC.MISSING, 0)
    qc |= np.where(infeasible, QC.OUT_OF_RANGE, 0)

    def time_var(key, long_name):
        attrs = {"long_name": f"{long_name} (UTC)", "timezone": "UTC"}
        return ("session", times[key].values, attrs)

    def text_var(key, long_name):
        return ("session", frame[key].to_numpy(str), {"long_name": long_name})

    ds = xr.Dataset(
        {
            "ev_arrival_time": time_var("arrival", "plug-in time"),
            "ev_departure_time": time_var("departure", "plug-out time"),
            "ev_done_charging_time": time_var("done", "time charging ended"),
            "ev_requested_departure_time": time_var("requested_departure", "announced departure"),
            "ev_energy_delivered_mwh": (
                "session",
                frame["delivered_kwh"].to_numpy(float) / 1000,
                {"units": "MWh", "long_name": "energy delivered to the vehicle"},
            ),
            "ev_p_max_mw": (
                "session", p_max_kw / 1000, {"units": "MW", "long_name": "maximum charging power"}
            ),
            "ev_station": text_var("station", "ACN station ID"),
            "ev_space": text_var("space", "ACN parking space ID"),
        },
        coords={"session": ("session", frame["session"].to_numpy(str), {"long_name": "sessionID"})},
    )
    add_series(
        ds,
        "ev_energy_requested_mwh",
        xr.DataArray(requested_mwh, dims="session"),
        qc,
        {"units": "MWh", "long_name": "energy requested by the driver (last input)"},
    )
    # One flag per session, named ev_qc: it qualifies the session, not only the request.
    ds = ds.rename({qc_name("ev_energy_requested_mwh"): qc_name("ev")})
    ds[qc_name("ev")].attrs["long_name"] = "quality flags of each session"
    for name in ds.data_vars:
        if name != qc_name("ev"):
            ds[name].attrs["ancillary_variables"] = qc_name("ev")
    return ds


def sessions_in_window(ds: xr.Dataset, start, end) -> xr.Dataset:
    """The sessions plugged in at some time within [start, end).

    ``start`` and ``end`` are naive UTC, or timezone-aware (converted to UTC); a session is kept
    when it arrives before ``end`` and departs after ``start``.
    """
    lo, hi = (_naive_utc(t, name) for t, name in ((start, "start"), (end, "end")))
    if not lo < hi:
        raise DataError(f"EV session window: 'start' must be before 'end' (got {lo} to {hi})")
    arrival = ds["ev_arrival_time"].values
    departure = ds["ev_departure_time"].values
    keep = (arrival < hi.to_datetime64()) & (departure > lo.to_datetime64())
    return ds.isel(session=np.flatnonzero(keep))


def _naive_utc(value, name: str) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise DataError(f"EV session window: {name!r} must be a time (got {value!r})") from None
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp
