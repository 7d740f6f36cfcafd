"""Rolling-origin backtests against persistence and seasonal-naive baselines.

At each origin the forecast is made exactly as :func:`~gridopt.forecast.core.forecast_series`
makes it in operation: the model is refitted on the data before the origin only. Baselines, from
the same data: **persistence** repeats the last value before the origin; **seasonal naive**
repeats the same hour of the last observed season (the last day, or the last week for load; a
missing value there is carried forward from the hour before it).

Scores per series, on the hours where the actual value and every forecast exist:

- MAE of the median forecast (the median minimises absolute error) and of each baseline;
- RMSE of the mean forecast (the mean minimises squared error) and of each baseline;
- MASE = MAE / the mean absolute one-step change of the series before the first origin
  (Hyndman & Koehler 2006, non-seasonal scale: it stays positive for a purely seasonal series,
  on which the seasonal-naive MASE is then 0). One scale per series, so the three MASEs rank
  like the MAEs;
- empirical coverage of the 80 % and 95 % intervals (share of actual values inside).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gridopt.errors import DataError
from gridopt.forecast import features as f
from gridopt.forecast.core import HOUR, LEVELS, Kind, forecast_series

__all__ = [
    "Scores",
    "backtest",
    "mase_scale",
    "persistence",
    "score",
    "scores_table",
    "seasonal_naive",
]

METHODS = ("model", "persistence", "seasonal_naive")


def persistence(y: pd.Series, issue: pd.Timestamp, horizon_h: int) -> np.ndarray:
    """The last value before ``issue``, for each of the ``horizon_h`` hours."""
    known = y[y.index < issue].dropna()
    return np.full(horizon_h, known.iloc[-1] if len(known) else np.nan)


def seasonal_naive(y: pd.Series, issue: pd.Timestamp, horizon_h: int, period_h: int) -> np.ndarray:
    """The same hour of the last observed season (``period_h`` hours) before ``issue``."""
    times = pd.date_range(issue - period_h * HOUR, issue + (horizon_h - 1) * HOUR, freq="h")
    zf = f.filled(y.reindex(times).to_numpy(dtype=float))
    zf[period_h:] = np.nan  # nothing at or after the issue is known
    origin = np.array([period_h])
    return np.array([f.same_hour(zf, origin, h, period_h)[0] for h in range(horizon_h)])


def backtest(
    y: pd.Series,
    kind: Kind,
    origins: Iterable,
    horizon_h: int = 24,
    exog: pd.DataFrame | None = None,
    *,
    history_days: int = 365,
) -> pd.DataFrame:
    """Forecasts from every origin beside the actual values and the two baselines.

    One row per (origin, target hour): ``origin``, ``time``, ``lead_h``, ``actual``, the
    forecast :data:`~gridopt.forecast.core.COLUMNS`, ``persistence``, ``seasonal_naive``.
    """
    frames = []
    for origin in origins:
        issue = pd.Timestamp(origin)
        fc = forecast_series(y, kind, issue, horizon_h, exog, history_days=history_days)
        fc.insert(0, "actual", y.reindex(fc.index).to_numpy(dtype=float))
        fc.insert(0, "lead_h", np.arange(horizon_h))
        fc.insert(0, "origin", issue)
        fc["persistence"] = persistence(y, issue, horizon_h)
        fc["seasonal_naive"] = seasonal_naive(y, issue, horizon_h, kind.seasonal_lag_h)
        frames.append(fc.rename_axis("time").reset_index())
    if not frames:
        raise DataError(f"{y.name or 'series'}: a backtest needs at least one origin (got none)")
    return pd.concat(frames, ignore_index=True)


def mase_scale(y: pd.Series, before) -> float:
    """Mean absolute change between consecutive hours of ``y`` before ``before`` (NaN-aware)."""
    history = y[y.index < pd.Timestamp(before)].to_numpy(dtype=float)
    return float(np.nanmean(np.abs(np.diff(history))))


@dataclass(frozen=True)
class Scores:
    """Backtest scores of one series; dicts are keyed by ``METHODS`` or the interval level."""

    series: str
    n: int
    mae: dict[str, float]
    rmse: dict[str, float]
    mase: dict[str, float]
    coverage: dict[int, float]

    def skill(self, baseline: str) -> float:
        """1 - MAE(model) / MAE(baseline): > 0 when the model beats the baseline (NaN: the
        baseline is exact)."""
        return 1.0 - self.mae["model"] / self.mae[baseline] if self.mae[baseline] else np.nan


def score(frame: pd.DataFrame, scale: float, series: str = "") -> Scores:
    """Scores of a :func:`backtest` frame; ``scale`` from :func:`mase_scale`."""
    points = {"model": "median", "persistence": "persistence", "seasonal_naive": "seasonal_naive"}
    means = {"model": "mean", "persistence": "persistence", "seasonal_naive": "seasonal_naive"}
    used = frame.dropna(subset=["actual", *points.values(), "mean"])
    actual = used["actual"].to_numpy()
    mae = {m: float(np.mean(np.abs(used[c].to_numpy() - actual))) for m, c in points.items()}
    rmse = {m: float(np.sqrt(np.mean((used[c].to_numpy() - actual) ** 2)))
            for m, c in means.items()}
    coverage = {
        level: float(np.mean((used[f"lower_{level}"] <= used["actual"])
                             & (used["actual"] <= used[f"upper_{level}"])))
        for level in LEVELS
    }
    mase = {m: v / scale if scale else np.nan for m, v in mae.items()}  # constant: no scale
    return Scores(series, len(used), mae, rmse, mase, coverage)


def scores_table(rows: Iterable[Scores]) -> str:
    """A fixed-width text table: MAE, RMSE and MASE of model and baselines, skill, coverage."""
    head = (f"{'series':<34}{'n':>6}  {'MAE model':>10}{'persist':>10}{'s-naive':>10}  "
            f"{'RMSE model':>10}{'persist':>10}{'s-naive':>10}  {'MASE model':>10}{'persist':>8}"
            f"{'s-naive':>8}  {'skill p':>7}{'skill s':>8}  {'cov80':>7}{'cov95':>7}")
    lines = [head]
    for s in rows:
        lines.append(
            f"{s.series:<34}{s.n:>6}  "
            + "".join(f"{s.mae[m]:>10.4g}" for m in METHODS) + "  "
            + "".join(f"{s.rmse[m]:>10.4g}" for m in METHODS) + "  "
            + f"{s.mase['model']:>10.3f}{s.mase['persistence']:>8.3f}"
            + f"{s.mase['seasonal_naive']:>8.3f}  "
            + f"{s.skill('persistence'):>7.1%}{s.skill('seasonal_naive'):>8.1%}  "
            + f"{s.coverage[80]:>7.1%}{s.coverage[95]:>7.1%}"
        )
    return "\n".join(lines)
