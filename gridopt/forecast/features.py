"""Feature columns shared by the forecast kinds, on an hourly grid indexed by position.

Every function reads arrays aligned on one regular hourly grid (position 0 = the first hour).
``p`` is an array of forecast origins (the position of the first forecast hour; the last
observed hour is ``p - 1``) and ``h`` a lead in hours (0 = the first forecast hour), so a target
sits at ``t = p + h``. Functions that read the target series read it only before ``p``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "Calendar",
    "calendar",
    "cumulative",
    "fill_gaps",
    "filled",
    "same_hour",
    "trailing_mean",
    "window_mean",
]

YEAR_DAYS = 365.2425


def filled(z: np.ndarray) -> np.ndarray:
    """``z`` with each gap carried forward from the last value before it (leading NaN stay)."""
    return pd.Series(z).ffill().to_numpy()


def trailing_mean(z: np.ndarray, hours: int = 24) -> np.ndarray:
    """Mean of ``z`` over the ``hours`` ending at each position (NaN-aware; NaN below half)."""
    return pd.Series(z).rolling(hours, min_periods=hours // 2).mean().to_numpy()


def same_hour(zf: np.ndarray, p: np.ndarray, h: int, period_h: int) -> np.ndarray:
    """The value one season before the target, in the last season observed before ``p``.

    ``period_h`` 24: the same hour on the last observed day (the seasonal-naive forecast);
    168: the same hour of the week in the last observed week.
    """
    return zf[p + h - period_h * (h // period_h + 1)]


def cumulative(x: np.ndarray) -> np.ndarray:
    """Running sums of the rows of ``x`` (n, k) with a leading row of zeros, for window means."""
    return np.vstack([np.zeros((1, x.shape[1])), np.cumsum(x, axis=0)])


def window_mean(cum: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Mean of the rows from ``start`` to ``end`` (both included), given ``cumulative(x)``."""
    return (cum[end + 1] - cum[start]) / (end - start + 1)[:, None]


@dataclass(frozen=True)
class Calendar:
    """Calendar columns of the targets, from arrays computed once per grid (UTC days)."""

    weekday: np.ndarray  # 0 = Monday
    day_of_year: np.ndarray
    hour: np.ndarray

    def weekday_dummies(self, t: np.ndarray) -> np.ndarray:
        """Six 0/1 columns: the target is Tuesday … Sunday (Monday is the base)."""
        day = self.weekday[t]
        return np.column_stack([(day == d).astype(float) for d in range(1, 7)])

    def weekend(self, t: np.ndarray) -> np.ndarray:
        """One 0/1 column: the target falls on a Saturday or Sunday."""
        return (self.weekday[t] >= 5).astype(float)[:, None]

    def daily(self, t: np.ndarray) -> np.ndarray:
        """Sine and cosine of the target's hour of day: the training origins span ± a few
        hours of the issue's hour, so within one lead the targets' hours differ."""
        angle = 2 * np.pi * self.hour[t] / 24
        return np.column_stack([np.sin(angle), np.cos(angle)])

    def annual(self, t: np.ndarray) -> np.ndarray:
        """Sine and cosine of the time of year at the target (the annual cycle, one harmonic)."""
        angle = 2 * np.pi * self.day_of_year[t] / YEAR_DAYS
        return np.column_stack([np.sin(angle), np.cos(angle)])


def calendar(times: pd.DatetimeIndex) -> Calendar:
    """The :class:`Calendar` of an hourly grid."""
    return Calendar(times.dayofweek.to_numpy(), times.dayofyear.to_numpy(), times.hour.to_numpy())


def fill_gaps(x: np.ndarray) -> np.ndarray:
    """Exogenous columns with gaps interpolated in time (ends: nearest value); all-NaN → 0.

    Used on the regression's inputs only (weather, generation mix), never on stored data.
    """
    frame = pd.DataFrame(x).interpolate(limit_direction="both")
    return frame.fillna(0.0).to_numpy()
