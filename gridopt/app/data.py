"""The app's only access to data: runs from the store, opened once and cached, and the
conventions by which pages find optional series in a results dataset.

Caching: an opened results dataset is kept (``functools.lru_cache``) under its run id and the
results file's modification time and size, so a run rewritten in place (``overwrite=True``) is
read again. Figures of long runs draw a downsampled copy (:func:`downsample`: block means over a
whole number of hours, at most ``MAX_POINTS`` steps), also cached; extremes that decide a
violation (voltages, loadings) are taken from the full dataset.

Optional series (pages show "not in this run" where they are absent):

- grid carbon intensity ``ext_grid_co2_t_per_mwh`` and its ``_marginal_`` / ``_average_``
  variants, t/MWh, dims ``(time)`` or ``(time, ext_grid)``;
- AQI ``aqi_china`` (HJ 633-2012) and/or ``aqi_epa`` (US EPA 2024), dims ``(time, station)``,
  with the KPIs ``kpi_aqi_hours_<category>`` and ``kpi_<pollutant>_aqi_weighted_t``;
- branch end buses ``branch_from_bus(branch)`` and ``branch_to_bus(branch)`` (pandapower bus
  index; from/hv end and to/lv end), which let the network page draw the grid's topology.

Every failure to read a run is a :class:`~gridopt.errors.DataError` whose message names the run.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import tempfile
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from gridopt.errors import DataError
from gridopt.store import KPI_PREFIX, RESULTS_FILE, RunRecord, Store

__all__ = [
    "AppData",
    "RunInfo",
    "MAX_POINTS",
    "downsample",
    "kpis",
    "intensity_names",
    "aqi_names",
    "has_topology",
    "time_variables",
]

MAX_POINTS = 1500  # time steps drawn per series at most; longer runs are block-averaged
STEP_CHOICES_H = (1, 2, 3, 4, 6, 12, 24, 48, 168)  # block lengths, whole hours
CACHED_RUNS = 6  # opened datasets kept in memory (a year on 150 buses is a few hundred MB)
INTENSITY_NAMES = (
    "ext_grid_co2_marginal_t_per_mwh",
    "ext_grid_co2_average_t_per_mwh",
    "ext_grid_co2_t_per_mwh",
)
AQI_NAMES = ("aqi_china", "aqi_epa")
TOPOLOGY_NAMES = ("branch_from_bus", "branch_to_bus")
NETCDF4_MAGIC = b"\x89HDF\r\n\x1a\n"  # NetCDF-4 is HDF5
NETCDF3_MAGIC = b"CDF"


@dataclasses.dataclass(frozen=True)
class RunInfo(RunRecord):
    """A run as the Runs page lists it: its catalog record, plus ``explanation``, the run's
    explanation lines (violations, slack in use, infeasibility) from its manifest, and ``problem``,
    why the run cannot be shown (results file missing or not NetCDF, manifest unreadable), None
    when nothing is known to be wrong.
    """

    explanation: tuple[str, ...] = ()
    problem: str | None = None


class AppData:
    """The store as the pages read it: catalog, manifests, cached datasets, CSV export."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def runs(self) -> list[RunInfo]:
        """Every visible run, newest first, with its manifest's explanation or its problem."""
        return [self._info(record) for record in self.store.list()]

    def run(self, run_id: str) -> RunInfo:
        """One run's catalog entry and manifest; an invalid or unknown id is a DataError."""
        return self._info(self.store.get(run_id))

    def newest(self) -> str | None:
        """The id of the newest run, None for an empty store."""
        records = self.store.list(limit=1)
        return records[0].run_id if records else None

    def dataset(self, run_id: str) -> xr.Dataset:
        """The full results of a run (cached; treat as read-only)."""
        return _opened(self.store, run_id, self.version(run_id))

    def plot_dataset(self, run_id: str) -> xr.Dataset:
        """The results downsampled for figures (:func:`downsample`; cached; read-only)."""
        return _downsampled(self.store, run_id, self.version(run_id))

    def export_csv(self, run_id: str, variable: str) -> bytes:
        """One variable as CSV through the store's export (long format, UTC ``Z`` times)."""
        with tempfile.TemporaryDirectory(prefix="gridopt-app-") as tmp:
            path = self.store.export_csv(run_id, variable, Path(tmp) / f"{variable}.csv")
            return path.read_bytes()

    def version(self, run_id: str) -> tuple[int, int]:
        """(mtime in ns, size in bytes) of the run's results file, which changes when the run is
        rewritten; an invalid or unknown id or a missing file is a DataError."""
        path = self.store.get(run_id).path / RESULTS_FILE
        try:
            stat = os.stat(path)
        except OSError as exc:
            raise DataError(f"run {run_id}: results file is missing ({path}: {exc.strerror})") from None
        return stat.st_mtime_ns, stat.st_size

    def _info(self, record) -> RunInfo:
        try:
            manifest = self.store.manifest(record.run_id)
            explanation, problem = tuple(manifest.get("explanation") or ()), None
        except DataError as exc:
            explanation, problem = (), str(exc)
        problem = _results_problem(record.path / RESULTS_FILE) or problem
        fields = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
        return RunInfo(**fields, explanation=explanation, problem=problem)


def _results_problem(path: Path) -> str | None:
    """Why a results file cannot be a NetCDF file (read from its first bytes), None if it can."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(NETCDF4_MAGIC))
    except OSError as exc:
        return f"results file is missing ({exc.strerror})"
    if not head.startswith((NETCDF4_MAGIC, NETCDF3_MAGIC)):
        return "results file is not a NetCDF file"
    return None


_LOCK = threading.Lock()  # one load at a time: twenty users opening a year-long run load it once


def _opened(store: Store, run_id: str, stamp: tuple[int, int]) -> xr.Dataset:
    with _LOCK:
        return _open_cached(store.root, run_id, stamp)


@functools.lru_cache(maxsize=CACHED_RUNS)
def _open_cached(root: Path, run_id: str, stamp: tuple[int, int]) -> xr.Dataset:
    return Store(root).open(run_id)


def _downsampled(store: Store, run_id: str, stamp: tuple[int, int]) -> xr.Dataset:
    with _LOCK:
        return _downsample_cached(store.root, run_id, stamp)


@functools.lru_cache(maxsize=CACHED_RUNS)
def _downsample_cached(root: Path, run_id: str, stamp: tuple[int, int]) -> xr.Dataset:
    return downsample(_open_cached(root, run_id, stamp))


def time_variables(ds: xr.Dataset) -> list[str]:
    """Numeric data variables with a ``time`` dimension (what a time-series figure can draw)."""
    return [name for name, var in ds.data_vars.items()
            if "time" in var.dims and np.issubdtype(var.dtype, np.number)]


def downsample(ds: xr.Dataset, max_points: int = MAX_POINTS) -> xr.Dataset:
    """``ds`` with its numeric time series averaged over blocks of ``plot_step_h`` hours.

    The block is the shortest of ``STEP_CHOICES_H`` giving at most ``max_points`` steps (the
    longest choice if none does); block means keep MW/MWh averages and energy totals. Blocks
    start at the first time stamp; non-numeric time series are dropped. A dataset short enough
    is returned as it is. attrs gain ``plot_step_h`` (the block length, hours).
    """
    if "time" not in ds.dims or ds.sizes["time"] <= max_points:
        return ds.assign_attrs(plot_step_h=_step_h(ds))
    span_h = (ds.indexes["time"][-1] - ds.indexes["time"][0]) / pd.Timedelta(hours=1) + _step_h(ds)
    step = next((h for h in STEP_CHOICES_H if span_h / h <= max_points), STEP_CHOICES_H[-1])
    numeric = time_variables(ds)
    still = [n for n, v in ds.data_vars.items() if "time" not in v.dims]
    means = ds[numeric].resample(time=f"{step}h", origin="start").mean(keep_attrs=True)
    out = xr.merge([means, ds[still]], combine_attrs="override")
    return out.assign_attrs(ds.attrs, plot_step_h=float(step))


def _step_h(ds: xr.Dataset) -> float:
    step = ds.attrs.get("time_step_h")
    if step is not None:
        return float(step)
    times = ds.indexes.get("time")
    if times is None or len(times) < 2:
        return 1.0
    return float((times[1] - times[0]) / pd.Timedelta(hours=1))


def kpis(ds: xr.Dataset) -> dict[str, float]:
    """The run's key figures from its ``kpi_<name>`` attrs, keyed by ``<name>`` (NaN kept)."""
    return {k[len(KPI_PREFIX):]: float(v) for k, v in ds.attrs.items() if k.startswith(KPI_PREFIX)}


def intensity_names(ds: xr.Dataset) -> list[str]:
    """The grid carbon-intensity series the run carries (t/MWh), marginal first."""
    return [n for n in INTENSITY_NAMES if n in ds.data_vars]


def aqi_names(ds: xr.Dataset) -> list[str]:
    """The AQI variables the run carries (``aqi_china``, ``aqi_epa``), in that order."""
    return [n for n in AQI_NAMES if n in ds.data_vars]


def has_topology(ds: xr.Dataset) -> bool:
    """True when the run carries branch end buses (so the network can be drawn as a graph)."""
    return all(n in ds.data_vars for n in TOPOLOGY_NAMES)
