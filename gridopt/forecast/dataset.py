"""Forecasts of the series of one dataset: which series, which kind, and the result dataset.

The forecast dataset, on ``time`` = the issue time and the ``horizon_h - 1`` hours after it
(naive UTC, each the start of its hour), holds for each forecast series ``<name>``, with the
series' dimensions and CF ``units``/``cell_methods``:

``<name>_mean``, ``<name>_median``, ``<name>_lower_80``, ``<name>_upper_80``,
``<name>_lower_95``, ``<name>_upper_95``

(central 80 % and 95 % prediction intervals; ``forecast_kind`` and ``forecast_features`` attrs
say how), the scalar coordinate ``forecast_reference_time`` (the issue time) and
``forecast_period(time)`` (hours after it), and the attrs ``status`` and ``kind`` = "forecast",
``issue_time``, ``horizon_h``, ``history_days``, ``method`` and, when weather or irradiance
after the issue time was used, a ``comment`` saying that measured values stood in for a
weather forecast.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from gridopt.errors import DataError
from gridopt.forecast.air_quality import AIR_QUALITY
from gridopt.forecast.carbon import CARBON
from gridopt.forecast.core import COLUMNS, HOUR, Kind, check_issue_time, forecast_series
from gridopt.forecast.load import LOAD
from gridopt.forecast.pv import PV
from gridopt.io.generic import utc_time_attrs
from gridopt.io.series import resample

__all__ = ["KINDS", "exog_frame", "forecast_dataset", "forecastable", "kind_for"]

KINDS = {k.name: k for k in (LOAD, PV, AIR_QUALITY, CARBON)}
"""The forecast kinds by name."""

# Which series are forecast, and as what ("sgen": PV when it reads 0 at night, else load).
_RULES = (
    (re.compile(r"^aq_\w+_(ug_m3|mg_m3|ppb|ppm)$"), "air_quality"),
    (re.compile(r"co2\w*_t_per_mwh$"), "carbon"),
    (re.compile(r"^pv_(p_mw|availability_pu)$"), "pv"),
    (re.compile(r"^sgen_p_max_mw$"), "sgen"),
    (re.compile(r"^load_(p_mw|q_mvar)$"), "load"),
)
NIGHT_ZERO_SHARE = 0.3  # an sgen series exactly 0 in at least this share of hours is PV
_LABELS = {
    "mean": "forecast mean",
    "median": "forecast median",
    "lower_80": "lower bound of the central 80 % prediction interval",
    "upper_80": "upper bound of the central 80 % prediction interval",
    "lower_95": "lower bound of the central 95 % prediction interval",
    "upper_95": "upper bound of the central 95 % prediction interval",
}
METHOD = (
    "gridopt.forecast: direct multi-horizon regression (statsmodels OLS, one fit per lead hour, "
    "trained on the same hour of day over the history before the issue time); intervals from "
    "leave-one-out residuals"
)
WEATHER_NOTE = (
    "exogenous inputs after the issue time (weather, irradiance) are the observed values, "
    "standing in for a weather forecast"
)


def kind_for(name: str, values: np.ndarray | None = None) -> Kind | None:
    """The kind that forecasts series ``name`` (None: not a forecast series).

    ``sgen_p_max_mw`` columns are PV when at least 30 % of ``values`` are exactly 0 (nights),
    else load (hydro, biomass: daily and weekly cycles).
    """
    rule = next((kind for pattern, kind in _RULES if pattern.search(name)), None)
    if rule != "sgen":
        return KINDS.get(rule)
    zeros = np.mean(values == 0) if values is not None and len(values) else 0.0
    return PV if zeros >= NIGHT_ZERO_SHARE else LOAD


def forecastable(ds: xr.Dataset) -> list[str]:
    """The series of ``ds`` that :func:`forecast_dataset` forecasts by default."""
    return [str(n) for n in ds.data_vars if "time" in ds[n].dims and kind_for(str(n)) is not None]


def forecast_dataset(
    ds: xr.Dataset,
    issue_time,
    horizon_h: int = 48,
    *,
    variables: Sequence[str] | None = None,
    history_days: int = 365,
) -> xr.Dataset:
    """Forecast ``variables`` of ``ds`` (default: :func:`forecastable`) from ``issue_time``.

    ``ds`` follows :mod:`gridopt.io.series`; finer steps are averaged to hours first. Series
    with an element dimension are forecast element by element, except that elements whose
    whole series are proportional share one fit (SimBench loads sharing a profile). Exogenous
    inputs are the kind's ``exog_variables`` found in ``ds``, at the same element when they
    have its dimension. See the module docstring for the result.
    """
    where = str(ds.attrs.get("source") or "series")
    ds = _hourly(ds, where)
    issue = check_issue_time(ds.indexes["time"], issue_time, horizon_h, where=where)
    names = list(variables) if variables is not None else forecastable(ds)
    if not names:
        raise DataError(f"{where}: no series to forecast (expected aq_*, *co2*_t_per_mwh, pv_*, "
                        f"sgen_p_max_mw or load_*; got {sorted(map(str, ds.data_vars))})")
    times = pd.date_range(issue, periods=horizon_h, freq="h")
    out = xr.Dataset(coords={"time": ("time", times, utc_time_attrs())})
    future_inputs = False
    for name in names:
        future_inputs |= _forecast_variable(ds, name, issue, horizon_h, history_days, out)
    out = out.assign_coords(
        forecast_reference_time=((), issue, {"standard_name": "forecast_reference_time",
                                             "long_name": "issue time of the forecast (UTC)"}),
        forecast_period=("time", np.arange(horizon_h, dtype=float),
                         {"standard_name": "forecast_period", "units": "hours",
                          "long_name": "hours from the issue time to the start of the step"}),
    )
    out.attrs = _attrs(ds, issue, horizon_h, history_days, future_inputs)
    return out


def _hourly(ds: xr.Dataset, where: str) -> xr.Dataset:
    if "time" not in ds.dims or ds.sizes["time"] < 2:
        raise DataError(f"{where}: a time series of at least two steps is required")
    step = pd.Timedelta(np.diff(ds.indexes["time"]).min())
    if step > HOUR:
        raise DataError(f"{where}: forecasts need hourly or finer data (got a step of {step})")
    return resample(ds, "1h") if step < HOUR else ds


def _forecast_variable(ds: xr.Dataset, name: str, issue: pd.Timestamp, horizon_h: int,
                       history_days: int, out: xr.Dataset) -> bool:
    """Put the forecast variables of ``name`` into ``out``; True if future inputs were used."""
    var, dim, frame = _columns_of(ds, name)
    fits, kinds, future_inputs = {}, [], False
    result = {c: np.full((horizon_h, frame.shape[1]), np.nan) for c in COLUMNS}
    for i, element in enumerate(frame.columns):
        y = frame[element].rename(f"{name}[{element}]" if dim else name)
        kind = kind_for(name, y.to_numpy())
        exog = exog_frame(ds, kind, dim, element)
        key, ratio = _share_key(kind, y, exog is not None and _per_element(ds, kind, dim))
        if key not in fits:
            fits[key] = forecast_series(y / ratio, kind, issue, horizon_h, exog,
                                        history_days=history_days)
        for c in COLUMNS:
            result[c][:, i] = fits[key][c].to_numpy() * ratio
        kinds.append(kind)
        future_inputs |= exog is not None and kind.exog_after_issue
    for c in COLUMNS:
        data = xr.DataArray(result[c], dims=("time", "element"))
        data = data.isel(element=0, drop=True) if dim is None else data.rename(element=dim)
        out[f"{name}_{c}"] = data.assign_attrs(_variable_attrs(var, name, c, kinds, dim))
    if dim is not None:
        out.coords[dim] = frame.columns.to_numpy()
    return future_inputs


def _columns_of(ds: xr.Dataset, name: str) -> tuple[xr.DataArray, str | None, pd.DataFrame]:
    """The variable, its element dimension (None) and its values as a (time x element) frame."""
    if name not in ds.data_vars:
        raise DataError(f"{_where(ds)}: variable {name!r} is not in the data "
                        f"(have {sorted(map(str, ds.data_vars))})")
    var = ds[name]
    dims = [d for d in var.dims if d != "time"]
    if "time" not in var.dims or len(dims) > 1:
        raise DataError(f"{_where(ds)}: {name} must have dims (time,) or (time, <element>) "
                        f"(got {var.dims})")
    if kind_for(name) is None:
        raise DataError(f"{_where(ds)}: {name} is not a series gridopt forecasts "
                        "(aq_*, *co2*_t_per_mwh, pv_*, sgen_p_max_mw, load_*)")
    frame = var.transpose("time", *dims).to_pandas()
    return var, (dims[0] if dims else None), (frame if dims else frame.to_frame(name))


def _share_key(kind: Kind, y: pd.Series, per_element: bool) -> tuple[tuple, float]:
    """(fit key, ratio): proportional series of a scale-free kind share a fit, scaled by ratio."""
    values = y.to_numpy(dtype=float)
    scale = np.nanmax(np.abs(values)) if np.isfinite(values).any() else 0.0
    if not kind.scale_free or per_element or not scale > 0:
        return (kind.name, str(y.name)), 1.0
    return (kind.name, np.round(values / scale, 9).tobytes()), float(scale)


def _per_element(ds: xr.Dataset, kind: Kind, dim: str | None) -> bool:
    return dim is not None and any(dim in ds[v].dims for v in kind.exog_variables if v in ds)


def exog_frame(
    ds: xr.Dataset, kind: Kind, dim: str | None = None, element=None
) -> pd.DataFrame | None:
    """The kind's exogenous series in ``ds`` as columns (``name`` or ``name[<coord>]``).

    Variables with dimension ``dim`` are taken at ``element``; None: ``ds`` has none of them.
    """
    parts = {}
    for name in kind.exog_variables:
        if name not in ds:
            continue
        var = ds[name].sel({dim: element}) if dim is not None and dim in ds[name].dims else ds[name]
        extra = [d for d in var.dims if d != "time"]
        if not extra:
            parts[name] = var.to_pandas()
        elif len(extra) == 1:
            for label in var[extra[0]].values:
                parts[f"{name}[{label}]"] = var.sel({extra[0]: label}).to_pandas()
    return pd.DataFrame(parts) if parts else None


def _variable_attrs(var: xr.DataArray, name: str, column: str, kinds: list[Kind],
                    dim: str | None) -> dict:
    """CF attributes of one forecast variable; ``kinds``: the kind of each element."""
    counts = {k: kinds.count(k) for k in dict.fromkeys(kinds)}
    mixed = dim is not None and len(counts) > 1
    return {
        "units": var.attrs.get("units", "1"),
        "long_name": f"{var.attrs.get('long_name', name)}: {_LABELS[column]}",
        "cell_methods": var.attrs.get("cell_methods", "time: mean"),
        "forecast_of": name,
        "forecast_kind": ", ".join(f"{k.name} ({n} {dim})" if mixed else k.name
                                   for k, n in counts.items()),
        "forecast_features": "; ".join(f"{k.name}: {k.description}" if mixed else k.description
                                       for k in counts),
    }


def _attrs(ds: xr.Dataset, issue: pd.Timestamp, horizon_h: int, history_days: int,
           future_inputs: bool) -> dict:
    attrs = {
        "title": f"forecast of {ds.attrs.get('title', _where(ds))}, "
                 f"issued {issue:%Y-%m-%d %H:%M} UTC",
        "source": str(ds.attrs.get("source", "")),
        "status": "forecast",
        "kind": "forecast",
        "issue_time": f"{issue:%Y-%m-%dT%H:%M:%SZ}",
        "horizon_h": horizon_h,
        "history_days": history_days,
        "method": METHOD,
        "Conventions": "CF-1.8",
    }
    if future_inputs:
        attrs["comment"] = WEATHER_NOTE
    return attrs


def _where(ds: xr.Dataset) -> str:
    return str(ds.attrs.get("source") or "series")
