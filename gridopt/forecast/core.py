"""The forecasting engine: direct multi-horizon linear regression with empirical intervals.

For an issue time ``T`` (the first forecast hour; data up to ``T - 1 h`` are known) and each lead
``h`` = 0 … H-1 a separate ordinary least-squares model (statsmodels ``OLS``) maps features known
at ``T`` (recent values, same hour of earlier days, calendar, exogenous inputs at the target) to
the target at ``T + h`` on the kind's scale (identity, log, clear-sky index). It is trained on
the origins at the same hour of day as ``T`` (± ``ISSUE_HOUR_SPREAD_H``) over the
``history_days`` before ``T``, using only targets observed before ``T``.

Where the kind gives a persistence forecast (the last value), each lead blends the regression
with it on the model scale: ``w * regression + (1 - w) * persistence``, ``w`` one of
:data:`BLEND_WEIGHTS` (1 … 0). The training rows choose ``w``: their leave-one-out errors of the
blend are ``w * e_reg + (1 - w) * e_pers`` (``e_reg`` the regression's leave-one-out residuals,
``e_pers`` persistence's errors), and the ``w`` whose blended forecasts of the training targets,
mapped back to units, have the lowest mean absolute error wins (ties: the larger ``w``). Units,
not the model scale, because forecasts are scored in units: on the log scale of air quality an
error in a pollution episode counts as much as one in clean air, in units it counts by its
size. ``w`` 0 is persistence (slowly varying series: a baseload plant, hydro). Only targets
observed before the issue time enter the choice.

Intervals come from the leave-one-out (PRESS) errors of each lead: the forecast distribution is
the (blended) point forecast plus the (blended) errors of the training rows, mapped back to the
series' units, so the bounds follow the errors' shape (skew, heavy tails) rather than a normal
assumption.
``median`` and the bounds are quantiles of that distribution, ``mean`` its mean (the smearing
estimator of Duan 1983: the back-transformed mean on a log scale exceeds the median).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm
from statsmodels.tools.sm_exceptions import SingularMatrixWarning
from threadpoolctl import threadpool_limits

from gridopt.errors import DataError

__all__ = [
    "COLUMNS",
    "LEVELS",
    "MAX_HORIZON_H",
    "Design",
    "Kind",
    "check_issue_time",
    "forecast_series",
    "parse_issue_time",
]

LEVELS = (80, 95)
"""Central prediction intervals, percent."""

COLUMNS = ("mean", "median", "lower_80", "upper_80", "lower_95", "upper_95")
_PROBS = (0.5, 0.10, 0.90, 0.025, 0.975)  # the quantiles behind COLUMNS[1:]

ISSUE_HOUR_SPREAD_H = 2  # training origins within ± this many hours of the issue's hour of day
MIN_ROWS = 60  # fewest usable training rows per lead (and at least two per feature)
MAX_HORIZON_H = 168
BLEND_WEIGHTS = (1.0, 0.75, 0.5, 0.25, 0.0)
"""Candidate weights of the regression in its blend with persistence, preferred first on ties."""
HOUR = pd.Timedelta(hours=1)


@dataclass(frozen=True)
class Design:
    """One series made ready for the regression, on an hourly grid indexed by position.

    ``z``: the target on the model's scale (NaN: missing, night, or after the issue time).
    ``columns(p, h)``: the feature matrix (len(p), k) for origins ``p`` and lead ``h``; it reads
    ``z`` only before ``p``; its first column is the intercept (ones). ``back(values, t)``:
    model-scale values at target position ``t`` → units (monotone non-decreasing; ``t`` may
    also be an array of positions, one per value).
    ``first_origin``: the first origin whose features exist. ``fixed(t)``: for a target
    position whose value needs no regression (PV at night), samples of its value in units;
    None otherwise (``fixed`` None: never). ``naive``: the persistence forecast on the model
    scale, ``naive[p - 1]`` for origin ``p`` (the last value, carried over gaps), or None.
    """

    z: np.ndarray
    columns: Callable[[np.ndarray, int], np.ndarray]
    back: Callable[[np.ndarray, int | np.ndarray], np.ndarray]
    first_origin: int
    fixed: Callable[[int], np.ndarray | None] | None = None
    naive: np.ndarray | None = None


@dataclass(frozen=True)
class Kind:
    """A kind of series and how to forecast it.

    ``build(y, times, exog, horizon_h)`` makes the :class:`Design` (``y`` in units, NaN after
    the issue; ``exog`` a frame on ``times`` or None). ``seasonal_lag_h``: the season of the
    seasonal-naive baseline (24 h, or 168 h for load). ``exog_variables``: dataset variables
    it uses as exogenous inputs when present. ``exog_after_issue``: it reads them after the
    issue time too, where measured values stand in for a forecast of them (weather).
    ``scale_free``: the forecast of ``c * y`` is ``c`` times the forecast of ``y`` (lets
    proportional series share one fit).
    """

    name: str
    build: Callable[[np.ndarray, pd.DatetimeIndex, pd.DataFrame | None, int], Design]
    seasonal_lag_h: int
    exog_variables: tuple[str, ...]
    exog_after_issue: bool
    scale_free: bool
    description: str


def forecast_series(
    y: pd.Series,
    kind: Kind,
    issue_time,
    horizon_h: int,
    exog: pd.DataFrame | None = None,
    *,
    history_days: int = 365,
) -> pd.DataFrame:
    """Forecast ``y`` for ``horizon_h`` hours from ``issue_time`` (naive UTC or aware).

    ``y``: hourly, naive-UTC index; values from ``issue_time`` on are ignored. ``exog``: the
    kind's exogenous inputs on an hourly index reaching ``issue_time + horizon_h - 1 h``; its
    values after the issue time stand in for a forecast of them (see the kind). Returns a
    frame indexed by target time with :data:`COLUMNS`, in the units of ``y``; a row is NaN
    when a feature is missing at the issue time (no value yet in the series).
    """
    where = str(y.name or "series")
    grid, issue = _hourly_grid(y.index, issue_time, horizon_h, where=where)
    values = y.reindex(grid).to_numpy(dtype=float)
    values[issue:] = np.nan
    design = kind.build(values, grid, _exog_on(exog, grid, where), horizon_h)
    result = _forecast_at(design, issue, horizon_h, history_days, where=where)
    return pd.DataFrame(result, index=grid[issue:], columns=list(COLUMNS))


def _forecast_at(design: Design, issue: int, horizon_h: int, history_days: int, *,
                 where: str) -> np.ndarray:
    """The (horizon_h, 6) forecast array from origin position ``issue`` (columns: COLUMNS)."""
    out = np.empty((horizon_h, len(COLUMNS)))
    with threadpool_limits(1, user_api="blas"):  # many small fits: threads only add overhead
        for h in range(horizon_h):
            samples = design.fixed(issue + h) if design.fixed is not None else None
            if samples is None:
                samples = _lead(design, issue, h, history_days * 24, where)
            out[h] = _summary(samples)
    return out


def _summary(samples: np.ndarray) -> np.ndarray:
    """Mean and the quantiles behind COLUMNS of a forecast distribution's samples (NaN: none)."""
    if samples.size == 0:
        return np.full(len(COLUMNS), np.nan)
    return np.concatenate([[samples.mean()], np.quantile(samples, _PROBS)])


def _lead(design: Design, issue: int, h: int, history_h: int, where: str) -> np.ndarray:
    """Samples of the forecast distribution at lead ``h`` in units (none: a feature is missing):
    the point forecast plus the leave-one-out errors of the training rows, both blended with
    persistence when the kind gives it (:func:`_blend_weight`)."""
    p = _training_origins(issue, h, design.first_origin, history_h)
    x, b = design.columns(p, h), design.z[p + h]
    keep = np.isfinite(x).all(axis=1) & np.isfinite(b)
    need = max(MIN_ROWS, 2 * x.shape[1])
    if keep.sum() < need:
        raise DataError(
            f"{where}: lead {h} h needs at least {need} usable training hours at this hour of "
            f"day before the issue time (got {int(keep.sum())}); give more history"
        )
    x0 = design.columns(np.array([issue]), h)
    if not np.isfinite(x0).all():
        return np.empty(0)
    x, b = x[keep], b[keep]
    used = np.ptp(x, axis=0) > 0  # a constant column would only blur the intercept (column 0)
    used[0] = True
    with warnings.catch_warnings():  # collinear features (shares summing to 1): pinv copes
        warnings.simplefilter("ignore", SingularMatrixWarning)
        fit = sm.OLS(b, x[:, used]).fit()
    point, errors = (x0[:, used] @ fit.params)[0], _loo_residuals(fit)
    if design.naive is not None:
        naive_errors = b - design.naive[p[keep] - 1]
        w = _blend_weight(design.back, b, p[keep] + h, errors, naive_errors)
        point = w * point + (1 - w) * design.naive[issue - 1]
        errors = w * errors + (1 - w) * naive_errors
    return design.back(point + errors, issue + h)


def _blend_weight(back: Callable[[np.ndarray, int | np.ndarray], np.ndarray], b: np.ndarray,
                  t: np.ndarray, fit_errors: np.ndarray, naive_errors: np.ndarray) -> float:
    """The weight of the regression, from :data:`BLEND_WEIGHTS`, whose blend with persistence
    forecasts the training targets best in units (mean absolute error; ties: the first).

    ``b``: the targets on the model scale at positions ``t``; ``fit_errors``, ``naive_errors``:
    target minus the regression's leave-one-out forecast, and minus persistence.
    """
    actual = back(b, t)

    def mae(w: float) -> float:
        blended = b - (w * fit_errors + (1 - w) * naive_errors)
        return float(np.mean(np.abs(back(blended, t) - actual)))

    return min(BLEND_WEIGHTS, key=mae)


def _training_origins(issue: int, h: int, first: int, history_h: int) -> np.ndarray:
    """Origins near the issue's hour of day on earlier days whose target is already observed."""
    days = np.arange(1, history_h // 24 + 1)
    spread = np.arange(-ISSUE_HOUR_SPREAD_H, ISSUE_HOUR_SPREAD_H + 1)
    p = (issue - 24 * days[:, None] + spread).ravel()
    return np.sort(p[(p >= first) & (p + h < issue)])


def _loo_residuals(fit) -> np.ndarray:
    """Leave-one-out residuals e_i / (1 - h_ii): out-of-sample errors without refitting."""
    leverage = np.einsum("ij,ji->i", fit.model.exog, fit.model.pinv_wexog)
    return fit.resid / np.clip(1.0 - leverage, 1e-6, None)


def _hourly_grid(
    index: pd.DatetimeIndex, issue_time, horizon_h: int, *, where: str
) -> tuple[pd.DatetimeIndex, int]:
    """The hourly grid from the data's start to the last forecast hour, and the issue position."""
    _check_hourly(index, where)
    issue = check_issue_time(index, issue_time, horizon_h, where=where)
    grid = pd.date_range(index[0], issue + (horizon_h - 1) * HOUR, freq="h")
    return grid, int((issue - index[0]) // HOUR)


def check_issue_time(
    index: pd.DatetimeIndex, issue_time, horizon_h: int, *, where: str
) -> pd.Timestamp:
    """``issue_time`` as naive UTC, checked: on the hour, inside the data, horizon in range."""
    if not isinstance(horizon_h, (int, np.integer)) or not 1 <= horizon_h <= MAX_HORIZON_H:
        raise DataError(
            f"{where}: horizon must be 1 to {MAX_HORIZON_H} whole hours (got {horizon_h!r})"
        )
    issue = parse_issue_time(issue_time, where=where)
    if not index[0] < issue <= index[-1] + HOUR:
        raise DataError(
            f"{where}: issue time must fall after the first and at most one hour after the last "
            f"value, {index[0]} to {index[-1] + HOUR} UTC (got {issue})"
        )
    return issue


def parse_issue_time(issue_time, *, where: str) -> pd.Timestamp:
    """An issue time (ISO 8601 text, datetime or Timestamp; no offset = UTC) as naive UTC."""
    try:
        issue = pd.Timestamp(issue_time)
    except (TypeError, ValueError):
        issue = pd.NaT
    if issue is pd.NaT:
        raise DataError(f"{where}: issue time must be an ISO 8601 time (got {issue_time!r})")
    if issue.tzinfo is not None:
        issue = issue.tz_convert("UTC").tz_localize(None)
    if issue != issue.floor("h"):
        raise DataError(f"{where}: issue time must be on the hour (got {issue} UTC)")
    return issue


def _check_hourly(index: pd.DatetimeIndex, where: str) -> None:
    if len(index) < 2 or not isinstance(index, pd.DatetimeIndex):
        raise DataError(f"{where}: an hourly time index of at least two values is required")
    steps = np.unique(np.diff(index.asi8))
    if len(steps) != 1 or steps[0] != HOUR.value:
        raise DataError(f"{where}: time steps must all be 1 h (got {pd.to_timedelta(steps[:3])})")


def _exog_on(exog: pd.DataFrame | None, grid: pd.DatetimeIndex, where: str) -> pd.DataFrame | None:
    """``exog`` on the grid; it must reach the last forecast hour (gaps inside are the kind's)."""
    if exog is None or exog.shape[1] == 0:
        return None
    if exog.index.max() < grid[-1]:
        raise DataError(
            f"{where}: exogenous inputs {list(exog.columns)} must reach {grid[-1]} UTC, the last "
            f"forecast hour (got {exog.index.max()}); they stand in for a forecast of them"
        )
    return exog.reindex(grid)
