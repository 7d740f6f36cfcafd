"""Load (and any series with daily and weekly cycles): ``load_p_mw``, ``load_q_mvar``, hydro.

Features of the target hour ``t`` from an issue at ``T``: the last value (``T - 1 h``), the mean
of the last 24 h, the same hour on the last observed day and in the last observed week, the
weekday (six dummies, UTC day), the hour of day (one harmonic: the training origins span ± 2 h
of the issue's hour) and, when ``weather_temp_c`` is given, heating and cooling degrees at
``t``: max(15 - T, 0) and max(T - 20, 0) in °C. Future temperatures are the observed ones,
standing in for a weather forecast. No public-holiday calendar is used: holidays are scored as
ordinary weekdays. No time-of-year term: the recent values carry the season, and with less
than a year of history (SimBench: one year of data) such a term extrapolates as a trend; it
cost 1-7 % of MAE on the SimBench profiles.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridopt.forecast import features as f
from gridopt.forecast.core import Design, Kind

__all__ = ["LOAD"]

HEATING_BASE_C = 15.0
COOLING_BASE_C = 20.0
WEEK_H = 168


def _build(y: np.ndarray, times: pd.DatetimeIndex, exog: pd.DataFrame | None, horizon_h: int):
    zf, z24, cal = f.filled(y), f.trailing_mean(y), f.calendar(times)
    degrees = _degrees(exog)

    def columns(p: np.ndarray, h: int) -> np.ndarray:
        t = p + h
        parts = [
            np.ones((len(p), 1)),
            np.column_stack([zf[p - 1], z24[p - 1], f.same_hour(zf, p, h, 24),
                             f.same_hour(zf, p, h, WEEK_H)]),
            cal.weekday_dummies(t),
            cal.daily(t),
        ]
        if degrees is not None:
            parts.append(degrees[t])
        return np.hstack(parts)

    return Design(z=y, columns=columns, back=lambda v, _t: v, first_origin=WEEK_H, naive=zf)


def _degrees(exog: pd.DataFrame | None) -> np.ndarray | None:
    """Heating and cooling degrees (°C) per hour, or None without a temperature."""
    if exog is None or "weather_temp_c" not in exog:
        return None
    temp = f.fill_gaps(exog[["weather_temp_c"]].to_numpy(dtype=float))[:, 0]
    return np.column_stack([np.maximum(HEATING_BASE_C - temp, 0),
                            np.maximum(temp - COOLING_BASE_C, 0)])


LOAD = Kind(
    name="load",
    build=_build,
    seasonal_lag_h=WEEK_H,
    exog_variables=("weather_temp_c",),
    exog_after_issue=True,
    scale_free=True,
    description="direct regression on last value, same hour last day and week, weekday, "
    "season, heating/cooling degrees",
)
