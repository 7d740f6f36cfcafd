"""``gridopt monitor``: an air-quality report of the monitoring stations of a model or data file.

Per station: coverage and QC flags of each series, the hours in each AQI category, and the worst
episodes (runs of consecutive hours at or above an AQI threshold), as plain rows of strings for
the CLI's tables; optionally a PNG of the AQI by station over time on the category colours.
For AirQualityUCI (one site: low-cost sensors beside reference analysers) the report is the QC
table and the sensor calibration instead.

The AQI is hourly (``gridopt.environment.china_aqi`` / ``epa_aqi``): its 24-hour means need the
23 hours before a window, so a model's air-quality series is loaded from 23 hours before its
window where the data have them, and the report covers the window (an episode running over its
edges is cut there). Times in the episode table are local to the data's ``source_timezone``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from gridopt.environment import (
    CHINA_CATEGORIES,
    EPA_CATEGORIES,
    Category,
    calibrate_sensors,
    china_aqi,
    epa_aqi,
    qc_report,
)
from gridopt.errors import ConfigError, DataError
from gridopt.io.airquality import open_airquality_uci, open_beijing_multisite, open_china_5cities
from gridopt.io.series import QC

__all__ = ["STANDARDS", "MonitorReport", "Standard", "aqi_episodes", "monitor_command", "plot_aqi"]

LEAD_IN = pd.Timedelta(hours=23)
_AQ_LOADERS = ("beijing_multisite", "china_5cities")
_FIVE_CITIES_FILE = re.compile(r"^[A-Za-z]+PM\d{8}_\d{8}\.csv(\.gz)?$")


@dataclass(frozen=True)
class Standard:
    """An AQI standard as the monitor uses it: ``threshold`` starts an episode (AQI >= it)."""

    key: str
    label: str
    compute: Callable[[xr.Dataset], xr.Dataset]
    variable: str
    categories: tuple[Category, ...]
    threshold: int


STANDARDS = {
    # China: 200 is the top of "moderately polluted"; the Beijing model's air-quality policy
    # threshold. EPA: 151 starts "Unhealthy".
    "china": Standard("china", "China HJ 633-2012", china_aqi, "aqi_china", CHINA_CATEGORIES, 200),
    "epa": Standard("epa", "US EPA (2024)", epa_aqi, "aqi_epa", EPA_CATEGORIES, 151),
}


@dataclass(frozen=True)
class MonitorReport:
    """What ``gridopt monitor`` prints: a title and (title, rows) tables; the AQI, the figure."""

    title: str
    tables: tuple[tuple[str, list[dict[str, str]]], ...]
    aqi: xr.Dataset | None
    figure: Path | None


@dataclass(frozen=True)
class _Monitored:
    ds: xr.Dataset
    title: str
    standard: str | None  # None: a sensor-calibration data set, no AQI
    start: pd.Timestamp | None = None  # the model window [start, end), UTC
    end: pd.Timestamp | None = None


def monitor_command(
    target: str,
    *,
    data_dir: str | Path | None = None,
    out_png: Path | None = None,
    standard: str | None = None,
    episodes: int = 3,
) -> MonitorReport:
    """The monitoring report of ``target``: a model (name or .toml) or a data file or folder.

    Files: a Beijing ``PRSA_Data_*.csv[.gz]`` or a folder of them, a five-cities
    ``<City>PM*.csv[.gz]`` or a folder of them, or ``AirQualityUCI.csv``; a relative path is also
    looked for in ``data_dir``. ``standard`` is "china" or "epa" (default: the model's policy
    standard; "china" for the Chinese data sets). ``episodes``: how many per station, longest
    first. ``out_png``: where to write the AQI figure (none if None).
    """
    monitored = _open(target, data_dir)
    if monitored.standard is None:
        if out_png is not None or standard is not None:
            raise DataError(f"{target}: there is no air-quality index to plot or rate (sensor "
                            "and reference series, no aq_<pollutant>_<unit> series)")
        tables = (("data coverage and QC flags", _coverage_rows(monitored.ds)),
                  ("sensor calibration: OLS on the PT08 sensors, T, RH, AH; time split",
                   _calibration_rows(monitored.ds)))
        return MonitorReport(monitored.title, tables, None, None)
    std = _standard(standard or monitored.standard)
    aqi = _window(std.compute(monitored.ds), monitored)
    ds = _window(monitored.ds, monitored)
    tz = ds.attrs.get("source_timezone") or "UTC"
    tables = (
        ("data coverage and QC flags", _coverage_rows(ds)),
        (f"hours per {std.label} AQI category", _category_rows(aqi, std)),
        (f"worst episodes: runs of hours with {std.label} AQI >= {std.threshold} ({tz} time)",
         _episode_rows(aqi[std.variable], std.threshold, episodes, tz)),
    )
    figure = None
    if out_png is not None:
        figure = plot_aqi(aqi, std, Path(out_png), title=f"{std.label} AQI: {monitored.title}")
    return MonitorReport(monitored.title, tables, aqi, figure)


def aqi_episodes(aqi: xr.DataArray, threshold: float) -> list[dict]:
    """Runs of consecutive hours with AQI >= ``threshold`` (a NaN hour ends a run).

    ``aqi`` has dims (time,) or (time, station). One dict per run, stations in order, runs in
    time order: ``station`` ("" without a station dimension), ``start`` and ``end`` (the first
    and last hour, naive UTC ``pd.Timestamp``), ``hours`` and ``peak`` (the largest AQI).
    """
    times = aqi.indexes["time"]
    values = aqi.transpose("time", ...).values.reshape(len(times), -1)
    stations = _stations(aqi)
    runs = []
    for j, station in enumerate(stations):
        with np.errstate(invalid="ignore"):
            above = np.concatenate([[0], values[:, j] >= threshold, [0]]).astype(np.int8)
        starts = np.flatnonzero(np.diff(above) == 1)
        ends = np.flatnonzero(np.diff(above) == -1) - 1
        if not starts.size:
            continue
        # Between two runs every value is below the threshold (or NaN, which fmax skips).
        peaks = np.fmax.reduceat(values[:, j], starts)
        for first, last, peak in zip(starts, ends, peaks, strict=True):
            runs.append({"station": station, "start": times[first], "end": times[last],
                         "hours": int(last - first + 1), "peak": float(peak)})
    return runs


def plot_aqi(aqi: xr.Dataset, standard: Standard, path: Path, *, title: str) -> Path:
    """A PNG of the AQI of each station over time (one panel each) on the category colours."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no display needed
    from matplotlib.patches import Patch

    series = aqi[standard.variable]
    stations = _stations(series)
    values = series.transpose("time", ...).values.reshape(series.sizes["time"], -1)
    times = series.indexes["time"]
    cats = standard.categories
    edges = [0, *(c.low - 1 for c in cats[1:]), 500]
    peak = np.nanmax(values) if np.isfinite(values).any() else 100.0
    top = float(np.clip(peak * 1.05, 100, 525))  # room above a capped 500
    fig = Figure(figsize=(12, 1.3 * len(stations) + 1.4), dpi=100, layout="constrained")
    axes = fig.subplots(len(stations), 1, sharex=True, squeeze=False)[:, 0]
    for ax, station, column in zip(axes, stations, values.T, strict=True):
        for c, low, high in zip(cats, edges[:-1], edges[1:], strict=True):
            ax.axhspan(low, high, color=c.color, alpha=0.35, linewidth=0)
        ax.plot(times, column, color="black", linewidth=0.4)
        ax.set_ylim(0, top)
        ax.set_title(station, loc="left", fontsize=9)
    axes[-1].set_xlabel("time (UTC)")
    fig.suptitle(title)
    handles = [Patch(color=c.color, alpha=0.6, label=c.name) for c in cats]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(cats), frameon=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


# ---------------------------------------------------------------- tables


def _coverage_rows(ds: xr.Dataset) -> list[dict[str, str]]:
    rows = []
    for r in qc_report(ds):
        row = {"station": r["station"], "variable": r["variable"], "valid": str(r["valid"]),
               "coverage": f"{r['coverage_percent']:.1f} %"}
        row.update({flag.name.lower().replace("_", " "): str(r[flag.name.lower()]) for flag in QC})
        rows.append(row)
    return rows


def _category_rows(aqi: xr.Dataset, std: Standard) -> list[dict[str, str]]:
    codes = aqi[f"{std.variable}_category"].transpose("time", ...).values
    values = aqi[std.variable].transpose("time", ...).values
    codes, values = codes.reshape(len(codes), -1), values.reshape(len(values), -1)
    rows = []
    for j, station in enumerate(_stations(aqi)):
        counts = np.bincount(codes[:, j][codes[:, j] >= 0], minlength=len(std.categories))
        row = {"station": station, "hours": str(len(codes)), "with AQI": str(int(counts.sum()))}
        for category, count in zip(std.categories, counts, strict=True):
            row[_category_label(category)] = str(int(count))
        finite = values[:, j][np.isfinite(values[:, j])]
        row["max AQI"] = f"{finite.max():.0f}" if finite.size else ""
        rows.append(row)
    return rows


def _stations(obj: xr.Dataset | xr.DataArray) -> list[str]:
    """The station names ("" for one site without a station dimension)."""
    return obj["station"].values.tolist() if "station" in obj.dims else [""]


def _category_label(category: Category) -> str:
    return f"{category.name} ({category.local_name})" if category.local_name else category.name


def _episode_rows(aqi: xr.DataArray, threshold: float, per_station: int,
                  tz: str) -> list[dict[str, str]]:
    by_station: dict[str, list[dict]] = {}
    for run in aqi_episodes(aqi, threshold):
        by_station.setdefault(run["station"], []).append(run)
    rows = []
    for runs in by_station.values():
        for run in sorted(runs, key=lambda r: (-r["hours"], -r["peak"], r["start"]))[:per_station]:
            rows.append({"station": run["station"], "start": _local(run["start"], tz),
                         "end": _local(run["end"], tz), "hours": str(run["hours"]),
                         "peak AQI": f"{run['peak']:.0f}"})
    return rows


def _local(time: pd.Timestamp, tz: str) -> str:
    return f"{time.tz_localize('UTC').tz_convert(tz):%Y-%m-%d %H:%M}"


def _calibration_rows(ds: xr.Dataset) -> list[dict[str, str]]:
    return [{"target": r["target"], "units": r["units"], "train / test hours":
             f"{r['n_train']} / {r['n_test']}", "split (UTC)": r["split_utc"],
             "R² train": f"{r['r2_train']:.3f}", "R² test": f"{r['r2_test']:.3f}",
             "RMSE test": f"{r['rmse_test']:.3g}"} for r in calibrate_sensors(ds)]


# ---------------------------------------------------------------- targets


def _standard(key: str) -> Standard:
    if key not in STANDARDS:
        raise ConfigError(f"standard must be one of {tuple(STANDARDS)} (got {key!r})")
    return STANDARDS[key]


def _window(ds: xr.Dataset, monitored: _Monitored) -> xr.Dataset:
    if monitored.start is None:
        return ds
    return ds.sel(time=slice(monitored.start, monitored.end - pd.Timedelta("1ns")))


def _open(target: str, data_dir: str | Path | None) -> _Monitored:
    path = _existing_path(target, data_dir)
    if path is None or path.suffix == ".toml":
        return _open_model(target, data_dir)
    ds, standard = _open_file(path)
    return _Monitored(ds, f"{ds.attrs['title']} ({path.name})", standard)


def _existing_path(target: str, data_dir: str | Path | None) -> Path | None:
    from gridopt.config import resolve_data_dir

    folder = resolve_data_dir(data_dir)
    candidates = [Path(target)] + ([folder / target] if folder else [])
    return next((c for c in candidates if c.exists()), None)


def _open_file(path: Path) -> tuple[xr.Dataset, str | None]:
    """The data set of a file or folder, and its default standard (None: no AQI)."""
    if path.is_dir():
        if any(path.glob("PRSA_Data_*.csv*")):
            return open_beijing_multisite(path), "china"
        if any(p for p in path.glob("*PM*_*.csv*") if _FIVE_CITIES_FILE.match(p.name)):
            return open_china_5cities(path), "china"
        raise DataError(f"{path}: a folder of Beijing PRSA_Data_*.csv[.gz] or five-cities "
                        "<City>PM<start>_<end>.csv[.gz] files is expected (got neither)")
    if path.name.startswith("PRSA_Data_"):
        return open_beijing_multisite(path), "china"
    if _FIVE_CITIES_FILE.match(path.name):
        return open_china_5cities(path), "china"
    if path.name.startswith("AirQualityUCI"):
        return open_airquality_uci(path), None
    raise DataError(f"{path.name}: file must be a Beijing PRSA_Data_*.csv[.gz], a five-cities "
                    "<City>PM<start>_<end>.csv[.gz] or AirQualityUCI*.csv (got another name)")


def _open_model(target: str, data_dir: str | Path | None) -> _Monitored:
    from gridopt.config import load_model

    config = load_model(target, data_dir)
    specs = [(name, spec) for name, spec in config.series.items() if spec.loader in _AQ_LOADERS]
    if len(specs) != 1:
        raise ConfigError(f"{config.path}: one [series.*] entry with loader in {_AQ_LOADERS} is "
                          f"needed to monitor air quality (got {len(specs)})")
    start, end = pd.Timestamp(config.time.start_utc), pd.Timestamp(config.time.end_utc)
    ds = _load_with_lead_in(config, *specs[0], start, end)
    title = f"model {config.name}, {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"
    return _Monitored(ds, title, config.policy.air_quality.standard, start, end)


def _load_with_lead_in(config, name, spec, start: pd.Timestamp, end: pd.Timestamp) -> xr.Dataset:
    """The series from ``LEAD_IN`` before ``start``, or from ``start`` if the data begin later."""
    from gridopt.sources import SourceContext, load_source

    try:
        return load_source(name, spec, SourceContext(config, None, start - LEAD_IN, end))
    except DataError:  # the data do not reach back before the window; a real problem reraises
        return load_source(name, spec, SourceContext(config, None, start, end))
