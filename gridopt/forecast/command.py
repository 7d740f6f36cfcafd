"""``gridopt forecast``: forecasts of a model's or a data file's series, stored as a run.

:func:`forecast_command` opens a model (its series entries, with history before the issue time)
or a data file, forecasts every series it recognises with
:func:`~gridopt.forecast.dataset.forecast_dataset` and saves one dataset (described there) to
the run store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from gridopt.errors import ConfigError, DataError
from gridopt.forecast.core import HOUR, MAX_HORIZON_H, parse_issue_time
from gridopt.forecast.dataset import forecast_dataset, forecastable
from gridopt.io.series import select_time

__all__ = ["forecast_command", "forecast_rows", "parse_horizon"]

LAG_DAYS = 16  # history the features need before the first training origin (PV: 14 + 2 days)


def parse_horizon(horizon: int | str) -> int:
    """A horizon in whole hours: an int, or text such as "48h", "2d", "36" (hours)."""
    text = str(horizon).strip()
    try:
        hours = pd.Timedelta(f"{text}h" if text.isdigit() else text) / HOUR
    except ValueError:
        hours = np.nan  # not a duration
    if not (np.isfinite(hours) and float(hours).is_integer() and 1 <= hours <= MAX_HORIZON_H):
        raise DataError(
            f"horizon must be 1 to {MAX_HORIZON_H} whole hours, e.g. 48h or 2d (got {horizon!r})"
        )
    return int(hours)


@dataclass(frozen=True)
class _Target:
    """What a forecast target opened to: named source datasets and what the store records."""

    title: str
    model: str
    sources: list[tuple[str, xr.Dataset]]
    inputs: dict = field(default_factory=dict)
    model_file: Path | None = None


def forecast_command(
    target: str | Path,
    issue_time,
    horizon_h: int | str = 48,
    *,
    data_dir: str | Path | None = None,
    store=None,
    history_days: int = 365,
) -> str:
    """Forecast a model's or a data file's series from ``issue_time``; store them; return the id.

    ``target``: a model (shipped name or .toml: its load, PV/sgen availability, carbon
    intensity and air-quality series, loaded from ``history_days`` + 16 days before the issue
    time), or a data file or folder: Beijing ``PRSA_Data_*`` (file or folder), EIA-930
    ``eia930_*.csv``, SGCC ``sgcc_solar_*.csv.gz`` or a NetCDF series file; a relative path is
    also looked for in ``data_dir``. ``horizon_h``: hours or text ("48h"). ``store``: a
    :class:`~gridopt.store.Store`, a folder, or None for the default store.
    """
    from gridopt.store import Store

    horizon = parse_horizon(horizon_h)
    opened = _open_target(str(target), data_dir, issue_time, horizon, history_days)
    parts = []
    for name, ds in opened.sources:
        if forecastable(ds):
            fc = forecast_dataset(ds, issue_time, horizon, history_days=history_days)
            parts.append(_unclashed(fc, name, parts))
    if not parts:
        raise DataError(f"{target}: no series to forecast (aq_*, *co2*_t_per_mwh, pv_*, "
                        "sgen_p_max_mw, load_*)")
    result = xr.merge(parts, compat="no_conflicts", combine_attrs="drop_conflicts")
    result.attrs.update(title=f"forecast of {opened.title}, issued {parts[0].attrs['issue_time']}",
                        source=", ".join(filter(None, (p.attrs.get("source") for p in parts))))
    store = store if isinstance(store, Store) else Store(store)
    options = {"target": str(target), "issue_time": result.attrs["issue_time"],
               "horizon_h": horizon, "history_days": history_days}
    return store.save(result, model=opened.model, inputs=opened.inputs, options=options,
                      model_file=opened.model_file)


def _unclashed(fc: xr.Dataset, source: str, earlier: list[xr.Dataset]) -> xr.Dataset:
    """A variable an earlier source already forecast is kept as ``<source>_<variable>``."""
    taken = {str(v) for ds in earlier for v in ds.data_vars}
    clashes = {str(v): f"{source}_{v}" for v in fc.data_vars if str(v) in taken}
    return fc.rename(clashes) if clashes else fc


def _open_target(target: str, data_dir, issue_time, horizon_h: int, history_days: int) -> _Target:
    from gridopt.config import resolve_data_dir

    folder = resolve_data_dir(data_dir)
    candidates = [Path(target)] + ([folder / target] if folder else [])
    path = next((c for c in candidates if c.exists()), None)
    if path is None or path.suffix == ".toml":
        return _open_model(target, data_dir, issue_time, horizon_h, history_days)
    ds, files = _open_file(path)
    return _Target(f"{ds.attrs.get('title', path.name)} ({path.name})", path.name,
                   [(path.name, ds)], {f.name: f for f in files})


def _open_file(path: Path) -> tuple[xr.Dataset, list[Path]]:
    """The dataset of a data file or folder, and the files it was read from."""
    from gridopt.io.airquality import open_beijing_multisite
    from gridopt.io.eia930 import open_eia930
    from gridopt.io.generic import open_netcdf_series
    from gridopt.io.sgcc_pv import open_sgcc_pv

    if path.is_dir():
        files = sorted(path.glob("PRSA_Data_*.csv*"))
        if not files:
            raise DataError(f"{path}: a folder of Beijing PRSA_Data_*.csv[.gz] files is expected")
        return open_beijing_multisite(path), files
    openers = {"PRSA_Data_": open_beijing_multisite, "eia930_": open_eia930,
               "sgcc_solar_": open_sgcc_pv}
    opener = next((o for prefix, o in openers.items() if path.name.startswith(prefix)), None)
    if opener is None and path.suffix == ".nc":
        opener = open_netcdf_series
    if opener is None:
        raise DataError(f"{path.name}: file must be a Beijing PRSA_Data_*.csv[.gz], an EIA-930 "
                        "eia930_*.csv, an SGCC sgcc_solar_*.csv.gz or a NetCDF .nc file")
    return opener(path), [path]


def _open_model(target: str, data_dir, issue_time, horizon_h: int, history_days: int) -> _Target:
    from gridopt.config import load_model
    from gridopt.run import run_inputs

    config = load_model(target, data_dir)
    issue = parse_issue_time(issue_time, where=str(config.path))
    start, end = issue - pd.Timedelta(days=history_days + LAG_DAYS), issue + horizon_h * HOUR
    needs_net = any(s.loader == "simbench_profiles" for s in config.series.values())
    net = _network(config) if needs_net else None
    sessions = config.assets.ev.sessions if config.assets.ev else None
    sources = []
    for name, spec in config.series.items():
        if name != sessions:
            ds = _load_history(config, net, name, spec, start, end)
            if ds is not None:
                sources.append((name, ds))
    return _Target(f"model {config.name}", config.name, sources, run_inputs(config), config.path)


def _network(config):
    from gridopt.network import load_network

    return load_network(config.network.source, base_dir=config.path.parent if config.path else None)


def _load_history(config, net, name: str, spec, start: pd.Timestamp, end: pd.Timestamp):
    """One series entry from ``start`` (or the data's start) to ``end``, hourly, scaled.

    Like :func:`gridopt.sources.load_source`, but the history before the model window may be
    shorter than asked (the data begin later); the data must reach ``end``.
    """
    from gridopt.sources import LOADERS, SourceContext, shift_to_year

    loader = LOADERS.get(spec.loader)
    if loader is None:
        raise ConfigError(f"{config.path}: series.{name}.loader must be one of {sorted(LOADERS)} "
                          f"(got {spec.loader!r})")
    ds = loader(spec, SourceContext(config, net, start.to_pydatetime(), end.to_pydatetime()))
    if "time" not in ds.dims or "session" in ds.dims:
        return None
    if spec.shift_to_year is not None:
        ds = shift_to_year(ds, spec.shift_to_year)
    ds = select_time(ds, start, end - pd.Timedelta("1ns"), where=f"{config.path}: series.{name}")
    if spec.scale != 1.0:
        for key in [k for k in ds.data_vars if not str(k).endswith("_qc")]:
            ds[key] = (ds[key] * spec.scale).assign_attrs(ds[key].attrs)
    return ds


def forecast_rows(ds: xr.Dataset) -> list[dict[str, str]]:
    """One row per forecast series, for the CLI's table: kind, elements, means over the horizon."""
    rows = []
    for name in [str(v)[: -len("_mean")] for v in ds.data_vars if str(v).endswith("_mean")]:
        mean = ds[f"{name}_mean"]
        width = ds[f"{name}_upper_80"] - ds[f"{name}_lower_80"]
        rows.append({
            "series": name,
            "kind": mean.attrs.get("forecast_kind", ""),
            "elements": str(int(np.prod([mean.sizes[d] for d in mean.dims if d != "time"]))),
            "mean": f"{float(mean.mean()):.4g}",
            "80 % interval width": f"{float(width.mean()):.4g}",
            "units": mean.attrs.get("units", ""),
        })
    return rows
