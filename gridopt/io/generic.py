"""Generic readers: any CSV time series described column by column, and NetCDF series files.

:func:`open_csv_series` does what every CSV loader needs (the format-specific loaders build on it):
read cells as text, parse times and convert them to naive UTC, turn documented no-data codes into
NaN + ``QC.SENTINEL``, values outside the stated physical range into NaN + ``QC.OUT_OF_RANGE``,
empty cells into NaN + ``QC.MISSING``, and put the series on a regular index whose inserted
rows carry ``QC.GAP``. Anything it cannot interpret unambiguously (an unparsable time, a
non-numeric cell, a repeated timestamp) raises :class:`~gridopt.errors.DataError` naming the
file, the column and the line (line 1 is the header).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from gridopt.errors import DataError
from gridopt.io.series import QC, Rule, add_series, range_flags, regular_time, series_attrs, to_utc

__all__ = [
    "ColumnSpec",
    "SESSION_VARIABLES",
    "holds_sessions",
    "open_csv_series",
    "open_netcdf_series",
    "open_netcdf_sessions",
    "require_file",
    "utc_time_attrs",
]

Sentinel = float | str | tuple[float, float]

_EMPTY = frozenset({"", "nan", "NaN", "NA", "N/A"})
_OFFSET = re.compile(r"(?:Z|[+-]\d\d:?\d\d)$")


@dataclass(frozen=True)
class ColumnSpec:
    """How one CSV column becomes one gridopt series.

    ``name`` is the gridopt variable (``<element>_<quantity>_<unit>``), ``units`` its CF units
    after multiplying the raw value by ``scale``, ``rule`` how it aggregates over time.
    ``valid_range`` (low, high) is in those output units; values outside become NaN with
    ``QC.OUT_OF_RANGE``. ``sentinels`` are no-data codes, checked on the raw cell: a string
    matches the stripped cell text (``"--"``), a number the parsed value (``-99`` matches
    ``-99.0``), a (low, high) pair any raw value in that closed interval (register overflow
    codes such as 6553.x); they become NaN with ``QC.SENTINEL``.
    """

    name: str
    units: str
    long_name: str
    rule: Rule = Rule.MEAN
    valid_range: tuple[float, float] | None = None
    sentinels: tuple[Sentinel, ...] = ()
    scale: float = 1.0


def require_file(path: str | Path) -> Path:
    """``path`` as a Path, or DataError if there is no such file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    return path


def utc_time_attrs() -> dict[str, str]:
    """Attributes of a ``time`` coordinate holding naive UTC."""
    return {"long_name": "time (UTC)", "timezone": "UTC"}


def open_csv_series(
    path: str | Path,
    *,
    time_column: str,
    columns: Mapping[str, ColumnSpec],
    timezone: str,
    time_format: str | None = None,
    step: str | None = None,
    attrs: Mapping[str, str] | None = None,
) -> xr.Dataset:
    """Read the ``columns`` of a CSV (plain or .gz) into a Dataset of series with QC flags.

    ``columns`` maps each CSV header (compared with runs of whitespace collapsed) to its
    :class:`ColumnSpec`. Times in ``time_column`` are local wall-clock times in ``timezone``
    (IANA name; the repeated hour at the end of daylight saving is resolved by order) unless they
    carry a UTC offset, which then wins (all rows carry one, or none does). ``time_format`` is a
    ``strftime`` pattern; None lets pandas infer it. ``step`` is the regular time step ("15min",
    "h"); None takes the most common spacing. ``attrs`` are added to the global attributes
    (title, institution, ...).
    """
    path = require_file(path)
    where = path.name
    raw = _read_text_table(path)
    header = {_norm(c): c for c in raw.columns}
    missing = [c for c in [time_column, *columns] if _norm(c) not in header]
    if missing:
        found = ", ".join(repr(c) for c in raw.columns)
        raise DataError(f"{where}: column {missing[0]!r} is missing (found {found})")
    text_times = raw[header[_norm(time_column)]].str.strip()
    times = _parse_times(text_times, timezone, time_format, where, time_column)
    _check_unique(times, text_times, where)
    values, flags = {}, {}
    for column, spec in columns.items():
        values[spec.name], flags[spec.name] = _parse_column(
            raw[header[_norm(column)]], spec, where, column
        )
    frame, gap = regular_time(
        pd.DataFrame(values, index=times), step or _common_step(times, where), where=where
    )
    qc = pd.DataFrame(flags, index=times).reindex(frame.index, fill_value=0)
    ds = xr.Dataset(coords={"time": ("time", frame.index.values, utc_time_attrs())})
    for spec in columns.values():
        add_series(
            ds,
            spec.name,
            xr.DataArray(frame[spec.name].to_numpy(), dims="time"),
            qc[spec.name].to_numpy(np.uint8) | np.where(gap, QC.GAP, 0).astype(np.uint8),
            series_attrs(spec.units, spec.long_name, spec.rule),
        )
    ds.attrs = {"source": where, "title": f"time series read from {where}"}
    ds.attrs.update({"source_timezone": timezone, **(attrs or {})})
    return ds


def _norm(name: str) -> str:
    return " ".join(str(name).split())


def _read_text_table(path: Path) -> pd.DataFrame:
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
        raise DataError(f"{path.name}: cannot be read as CSV ({exc})") from None
    if raw.empty:
        raise DataError(f"{path.name}: must hold at least one data row (got none)")
    return raw


def _line(i: int) -> int:
    """File line of data row ``i`` (0-based), the header being line 1."""
    return int(i) + 2


def _parse_times(
    text: pd.Series, timezone: str, time_format: str | None, where: str, column: str
) -> pd.DatetimeIndex:
    with_offset = text.str.contains(_OFFSET).to_numpy()
    has_offset = bool(with_offset[0])
    odd = np.flatnonzero(with_offset != has_offset)
    if odd.size:
        i = odd[0]
        raise DataError(
            f"{where}: column {column!r} must hold times all with a UTC offset or all without "
            f"(got {text.iloc[0]!r} on line {_line(0)} and {text.iloc[i]!r} on line {_line(i)})"
        )
    try:
        parsed = pd.to_datetime(text, format=time_format, errors="coerce", utc=has_offset)
    except (ValueError, TypeError) as exc:
        raise DataError(f"{where}: column {column!r} must hold times ({exc})") from None
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if bad.size:
        i = bad[0]
        raise DataError(
            f"{where}: column {column!r} must hold times (got {text.iloc[i]!r} on line {_line(i)})"
        )
    return to_utc(parsed, "UTC" if has_offset else timezone, where=where)


def _check_unique(times: pd.DatetimeIndex, text: pd.Series, where: str) -> None:
    dup = np.flatnonzero(times.duplicated(keep=False))
    if dup.size:
        first = dup[0]
        second = next(i for i in dup[1:] if times[i] == times[first])
        raise DataError(
            f"{where}: timestamps must be unique (got {text.iloc[first]!r} on line "
            f"{_line(first)} and {text.iloc[second]!r} on line {_line(second)}, both "
            f"{times[first]} UTC)"
        )


def _common_step(times: pd.DatetimeIndex, where: str) -> str:
    if len(times) < 2:
        raise DataError(f"{where}: at least two rows are needed to infer the time step (got one)")
    diffs = pd.Series(np.diff(times.sort_values().asi8))
    return pd.tseries.frequencies.to_offset(pd.Timedelta(int(diffs.mode().iloc[0]))).freqstr


def _parse_column(
    text: pd.Series, spec: ColumnSpec, where: str, column: str
) -> tuple[np.ndarray, np.ndarray]:
    cells = text.str.strip()
    values = pd.to_numeric(cells, errors="coerce").to_numpy(dtype=float)
    empty = cells.isin(_EMPTY).to_numpy()
    sentinel = _sentinel_mask(cells, values, spec.sentinels)
    bad = np.flatnonzero(np.isnan(values) & ~empty & ~sentinel)
    if bad.size:
        i = bad[0]
        raise DataError(
            f"{where}: column {column!r} must be numeric (got {cells.iloc[i]!r} on line {_line(i)})"
        )
    values = np.where(sentinel | empty, np.nan, values * spec.scale)
    flags = np.where(empty, QC.MISSING, 0) | np.where(sentinel, QC.SENTINEL, 0)
    if spec.valid_range is not None:
        out = range_flags(values, *spec.valid_range) & QC.OUT_OF_RANGE
        values[out.astype(bool)] = np.nan
        flags |= out
    return values, flags.astype(np.uint8)


def _sentinel_mask(cells: pd.Series, values: np.ndarray, sentinels: Sequence[Sentinel]):
    mask = np.zeros(len(cells), dtype=bool)
    for code in sentinels:
        if isinstance(code, str):
            mask |= (cells == code).to_numpy()
        elif isinstance(code, tuple):
            mask |= (values >= code[0]) & (values <= code[1])
        else:
            mask |= values == code
    return mask


def open_netcdf_series(path: str | Path, variables: Sequence[str] | None = None) -> xr.Dataset:
    """Open a NetCDF file of series, checked against the gridopt conventions.

    The file must have a strictly increasing ``time`` coordinate, and every selected series
    (``variables``, default all; their ``_qc`` companions come along) a ``units`` attribute.
    Times are returned as naive UTC: CF units with an offset ("hours since 2021-01-01 00:00+01:00")
    are decoded by xarray, ISO strings with offsets are parsed, and naive times whose ``time``
    coordinate carries a ``timezone`` attribute other than UTC are converted from that zone.
    """
    path = require_file(path)
    where = path.name
    ds = _read_netcdf(path)
    if "time" not in ds.coords:
        raise DataError(f"{where}: a 'time' coordinate is required (found {list(ds.coords)})")
    if ds.sizes["time"] == 0:
        raise DataError(f"{where}: time must hold at least one step (got none)")
    if variables is not None:
        ds = ds[_with_qc(ds, variables, where)]
    ds = ds.assign_coords(time=("time", _netcdf_times_utc(ds["time"], where), utc_time_attrs()))
    _check_increasing(ds.indexes["time"], where)
    for name, var in ds.data_vars.items():
        if _needs_units(name, var) and "units" not in var.attrs:
            raise DataError(f"{where}: variable {name!r} must have a 'units' attribute")
    return ds


SESSION_VARIABLES = {
    "ev_bus": ("iu", "integers"),
    "ev_arrival_time": ("M", "times"),
    "ev_departure_time": ("M", "times"),
    "ev_energy_mwh": ("fiu", "numbers"),
    "ev_p_max_mw": ("fiu", "numbers"),
}
"""Variables of an EV session table (dimension ``session``), with the numpy kinds they may have:
the bus index, plug-in and plug-out times, the energy to deliver by departure (MWh, drawn from
the grid) and the charging power limit (MW)."""

_NETCDF_MAGIC = (b"CDF\x01", b"CDF\x02", b"CDF\x05", b"\x89HDF\r\n\x1a\n")


def holds_sessions(path: str | Path) -> bool:
    """Whether a NetCDF file is an EV session table: a ``session`` dimension and no ``time``."""
    ds = _read_netcdf(require_file(path), load=False)
    with ds:
        return "session" in ds.dims and "time" not in ds.dims


def open_netcdf_sessions(path: str | Path) -> xr.Dataset:
    """Open a NetCDF table of EV sessions (dimension ``session``), checked for its variables.

    The file holds :data:`SESSION_VARIABLES` (more may come along). Times are naive UTC, or
    local times converted from the ``timezone`` attribute of their variable. The sessions'
    values (departure after arrival, energy and power) are checked where they are used, with
    the network at hand (``gridopt.sources``).
    """
    path = require_file(path)
    where = path.name
    ds = _read_netcdf(path)
    if "session" not in ds.dims:
        raise DataError(f"{where}: a 'session' dimension is required (found {list(ds.dims)})")
    for name, (kinds, expected) in SESSION_VARIABLES.items():
        if name not in ds:
            raise DataError(f"{where}: variable {name!r} is missing (found {list(ds.data_vars)})")
        var = ds[name]
        if var.dims != ("session",) or var.dtype.kind not in kinds:
            raise DataError(
                f"{where}: variable {name!r} must hold {expected} along 'session' "
                f"(got dtype {var.dtype}, dims {var.dims})"
            )
    for name in ("ev_arrival_time", "ev_departure_time"):
        tz = ds[name].attrs.get("timezone", "UTC")
        utc = to_utc(pd.DatetimeIndex(ds[name].values), tz, where=f"{where}: {name}")
        ds[name] = ("session", utc.values, {**ds[name].attrs, "timezone": "UTC"})
    ds.attrs.setdefault("source", where)
    return ds


def _read_netcdf(path: Path, *, load: bool = True) -> xr.Dataset:
    """The file's dataset (loaded into memory unless ``load`` is False), or a DataError."""
    with open(path, "rb") as fh:
        head = fh.read(8)
    if not head.startswith(_NETCDF_MAGIC):
        raise DataError(
            f"{path.name}: cannot be read as NetCDF (a NetCDF-3 or NetCDF-4/HDF5 file must "
            f"start with 'CDF' or '\\x89HDF'; got {head!r})"
        )
    try:
        if not load:
            return xr.open_dataset(path)
        with xr.open_dataset(path) as opened:
            return opened.load()
    except (OSError, ValueError, RuntimeError) as exc:
        raise DataError(f"{path.name}: cannot be read as NetCDF ({exc})") from None


def _with_qc(ds: xr.Dataset, variables: Sequence[str], where: str) -> list[str]:
    absent = [v for v in variables if v not in ds.data_vars]
    if absent:
        raise DataError(
            f"{where}: variable {absent[0]!r} is missing (found {list(ds.data_vars)})"
        )
    return [*variables, *(f"{v}_qc" for v in variables if f"{v}_qc" in ds.data_vars)]


def _needs_units(name: str, var: xr.DataArray) -> bool:
    return not name.endswith("_qc") and var.dtype.kind in "fiu"


def _netcdf_times_utc(time: xr.DataArray, where: str) -> np.ndarray:
    tz = time.attrs.get("timezone", "UTC")
    if time.dtype.kind == "M":
        return to_utc(pd.DatetimeIndex(time.values), tz, where=f"{where}: time").values
    if time.dtype.kind in "USO":
        text = pd.Series(time.values.astype(str))
        with_offset = text.str.contains(_OFFSET).to_numpy()
        if not (with_offset.all() or ("timezone" in time.attrs and not with_offset.any())):
            raise DataError(
                f"{where}: time strings must carry a UTC offset or the time coordinate a "
                f"'timezone' attribute (got {text.iloc[int(np.argmin(with_offset))]!r})"
            )
        aware = bool(with_offset.all())
        parsed = pd.to_datetime(text, utc=aware, format="ISO8601", errors="coerce")
        if parsed.isna().any():
            bad = text[parsed.isna()].iloc[0]
            raise DataError(f"{where}: time must hold ISO 8601 times (got {bad!r})")
        return to_utc(parsed, "UTC" if aware else tz, where=where).values
    raise DataError(f"{where}: time must hold datetimes (got dtype {time.dtype})")


def _check_increasing(times: pd.DatetimeIndex, where: str) -> None:
    steps = np.diff(times.asi8)
    if (steps <= 0).any():
        i = int(np.flatnonzero(steps <= 0)[0])
        raise DataError(
            f"{where}: time must be strictly increasing (got {times[i + 1]} after {times[i]})"
        )
