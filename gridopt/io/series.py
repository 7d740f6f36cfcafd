"""Conventions every loader follows: UTC time, CF attributes, QC flags, resampling rules.

A loader returns an ``xr.Dataset`` whose ``time`` coordinate is timezone-naive ``datetime64[ns]``
holding UTC (xarray has no timezone-aware index; the ``timezone`` attribute says so). Each data
variable carries CF ``units`` and ``long_name`` and a ``cell_methods`` saying how it aggregates
over time. Bad values are never altered silently: a QC variable ``<name>_qc`` of bit flags
(CF ``flag_masks``/``flag_meanings``) sits beside each series, named in its
``ancillary_variables`` attribute. Values flagged as sentinels or out of range are set to NaN
(the raw value is not a measurement); the flag records that this happened.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

import numpy as np
import pandas as pd
import xarray as xr

from gridopt.errors import DataError

__all__ = [
    "QC",
    "Rule",
    "to_utc",
    "series_attrs",
    "add_series",
    "regular_time",
    "range_flags",
    "resample",
    "qc_summary",
    "qc_name",
    "select_time",
]


class QC(enum.IntFlag):
    """Bit flags of a ``<name>_qc`` variable; 0 means good."""

    MISSING = 1  # the source row is there, the value is empty/NaN
    GAP = 2  # the timestamp is absent from the source; inserted to make the index regular
    OUT_OF_RANGE = 4  # outside the physical range stated by the loader; set to NaN
    SENTINEL = 8  # a documented no-data code (-200, -99, 6553.x, ...); set to NaN
    SPIKE = 16  # an implausible jump from its neighbours (value kept)
    STUCK = 32  # the same value repeated for too long (value kept)


class Rule(enum.StrEnum):
    """How a variable aggregates to a coarser step (CF ``cell_methods``)."""

    MEAN = "mean"  # power (MW), concentrations, intensities, prices
    SUM = "sum"  # energy (MWh), counts
    POINT = "point"  # instantaneous values: take the first sample of each new step


def qc_name(name: str) -> str:
    """The QC variable that belongs to series ``name``."""
    return f"{name}_qc"


def to_utc(times: pd.Series | pd.DatetimeIndex, tz: str, *, where: str) -> pd.DatetimeIndex:
    """Convert local wall-clock (naive) or aware times to naive UTC.

    ``tz`` is an IANA name ("Asia/Shanghai", "UTC", "Etc/GMT-1" for fixed UTC+1). Ambiguous
    local times (the repeated hour at the end of daylight saving) are resolved by order of
    appearance; nonexistent ones (the skipped hour) are an error naming ``where``.
    """
    idx = pd.DatetimeIndex(times)
    if idx.tz is None:
        try:
            idx = idx.tz_localize(tz, ambiguous="infer", nonexistent="raise")
        except Exception as exc:  # pytz/zoneinfo raise several types here
            raise DataError(
                f"{where}: local times in {tz} cannot be mapped to UTC ({exc})"
            ) from None
    return idx.tz_convert("UTC").tz_localize(None)


def series_attrs(units: str, long_name: str, rule: Rule, **extra: str) -> dict[str, str]:
    """CF attributes of one series."""
    attrs = {"units": units, "long_name": long_name, "cell_methods": f"time: {rule.value}"}
    attrs.update(extra)
    return attrs


def _qc_attrs(name: str) -> dict:
    return {
        "long_name": f"quality flags of {name}",
        "flag_masks": np.array([int(f) for f in QC], dtype=np.uint8),
        "flag_meanings": " ".join(f.name.lower() for f in QC),
        "cell_methods": "time: bitwise_or",
    }


def add_series(
    ds: xr.Dataset,
    name: str,
    data: xr.DataArray,
    flags: np.ndarray | xr.DataArray | None,
    attrs: Mapping[str, str],
) -> None:
    """Put series ``name`` with its QC variable into ``ds`` (in place).

    ``flags`` has the shape of ``data`` (0 where good); None means all good.
    """
    data = data.copy()
    data.attrs = dict(attrs)
    data.attrs["ancillary_variables"] = qc_name(name)
    if flags is None:
        flags = np.zeros(data.shape, dtype=np.uint8)
    qc = xr.DataArray(np.asarray(flags, dtype=np.uint8), dims=data.dims, coords=data.coords)
    qc.attrs = _qc_attrs(name)
    ds[name] = data
    ds[qc_name(name)] = qc


def regular_time(frame: pd.DataFrame, step: str, *, where: str) -> tuple[pd.DataFrame, np.ndarray]:
    """Reindex a UTC-indexed frame onto a complete regular index of ``step``.

    Returns the frame and a boolean array marking the inserted rows (QC.GAP). Duplicated
    timestamps are an error naming ``where`` and the first duplicate.
    """
    dup = frame.index.duplicated()
    if dup.any():
        raise DataError(f"{where}: timestamps must be unique (got {frame.index[dup][0]} twice)")
    frame = frame.sort_index()
    full = pd.date_range(frame.index[0], frame.index[-1], freq=step)
    off_grid = frame.index.difference(full)
    if len(off_grid):
        raise DataError(
            f"{where}: timestamps must fall on a {step} grid (got {off_grid[0]} off the grid)"
        )
    gap = ~full.isin(frame.index)
    return frame.reindex(full), gap


def range_flags(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """QC.OUT_OF_RANGE where a finite value lies outside [low, high], QC.MISSING where NaN."""
    values = np.asarray(values, dtype=float)
    flags = np.where(np.isnan(values), QC.MISSING, 0)
    with np.errstate(invalid="ignore"):
        flags |= np.where((values < low) | (values > high), QC.OUT_OF_RANGE, 0)
    return flags.astype(np.uint8)


def resample(ds: xr.Dataset, step: str) -> xr.Dataset:
    """Resample every series to ``step`` by its ``cell_methods`` rule; QC flags are OR-ed.

    Upsampling (a finer step than the data) repeats a power/mean value and splits an energy/sum
    value evenly, so totals are kept. Variables without a ``time`` dimension pass through.
    """
    src = _step_of(ds)
    dst = pd.to_timedelta(step)
    if src == dst:
        return ds
    out = {}
    for name, var in ds.data_vars.items():
        if "time" not in var.dims:
            out[name] = var
            continue
        if name.endswith("_qc"):
            out[name] = _resample_flags(var, dst, src)
            continue
        rule = Rule(var.attrs.get("cell_methods", "time: mean").split(": ")[1])
        out[name] = _resample_values(var, rule, dst, src)
        out[name].attrs = dict(var.attrs)
    result = xr.Dataset(out, attrs=dict(ds.attrs))
    result.attrs["resampled_to"] = step
    return result


def _step_of(ds: xr.Dataset) -> pd.Timedelta:
    """The data's step: the smallest spacing of its time index."""
    return pd.Timedelta(np.diff(ds.indexes["time"]).min())


def _resample_values(var: xr.DataArray, rule: Rule, dst: pd.Timedelta, src: pd.Timedelta):
    if dst > src:
        r = var.resample(time=dst)
        if rule is Rule.SUM:
            return r.sum(skipna=False)
        if rule is Rule.POINT:
            return r.first(skipna=False)
        return r.mean(skipna=False)
    up = var.reindex(time=_finer_index(var, src, dst), method="ffill")
    return up * (dst / src) if rule is Rule.SUM else up


def _finer_index(var: xr.DataArray, src: pd.Timedelta, dst: pd.Timedelta) -> pd.DatetimeIndex:
    """Every ``dst`` step inside the data's span, including the whole of its last ``src`` step."""
    times = var.indexes["time"]
    return pd.date_range(times[0], times[-1] + src - dst, freq=dst)


def _resample_flags(var: xr.DataArray, dst: pd.Timedelta, src: pd.Timedelta) -> xr.DataArray:
    if dst > src:
        out = var.resample(time=dst).reduce(np.bitwise_or.reduce, dim="time")
    else:
        out = var.reindex(time=_finer_index(var, src, dst), method="ffill")
    out = out.astype(np.uint8)
    out.attrs = dict(var.attrs)
    return out


def select_time(obj: xr.Dataset | xr.DataArray, start, end, *, where: str):
    """``obj`` restricted to [start, end] (UTC, both inclusive; None leaves that side open).

    An empty selection is a DataError naming ``where`` and the period ``obj`` covers.
    """
    if start is None and end is None:
        return obj
    chosen = obj.sel(time=slice(start, end))
    if chosen.sizes["time"] == 0:
        times = obj.indexes["time"]
        raise DataError(
            f"{where}: the series cover {times[0]} to {times[-1]} UTC (got start={start}, end={end})"
        )
    return chosen


def qc_summary(ds: xr.Dataset, name: str) -> dict[str, int]:
    """How many values of series ``name`` carry each QC flag (flags absent from the data omitted)."""
    flags = ds[qc_name(name)].values
    return {f.name.lower(): int(np.count_nonzero(flags & f)) for f in QC if (flags & f).any()}
