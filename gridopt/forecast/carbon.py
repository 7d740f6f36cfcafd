"""Grid carbon intensity (``grid_co2_average_t_per_mwh``, ``ext_grid_co2_*_t_per_mwh``).

Features of the target hour ``t`` from an issue at ``T``: the last value, the mean of the last
24 h, the same hour on the last two observed days and in the last observed week (the daily
cycle of solar and demand), a weekend flag, the time of year, the hour of day and, when
generation by fuel is given (``generation_mw``, EIA-930), the shares of wind, solar and hydro
in generation at ``T - 1 h``: the mix the grid is in when the forecast is made. Shares that
vary by less than half a percentage point over the history are left out. Only data known at
the issue time enter; no weather.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from gridopt.forecast import features as f
from gridopt.forecast.core import Design, Kind

__all__ = ["CARBON", "GENERATION_VARIABLE"]

GENERATION_VARIABLE = "generation_mw"
"""Exogenous generation by fuel: columns named ``generation_mw`` or ``generation_mw[<fuel>]``."""

MIX_FUELS = ("WND", "SUN", "WAT")
"""Fuels whose shares describe the mix: the variable ones that swing the intensity (with all
eight the backtests were worse: ERCO 3 % better than persistence instead of 8 %)."""
MIN_SHARE_STD = 0.005
WEEK_H = 168


def _shares(exog: pd.DataFrame | None, known: np.ndarray) -> np.ndarray | None:
    """Shares of ``MIX_FUELS`` in total generation per hour (gaps interpolated), varying only."""
    if exog is None:
        return None
    gen = exog[[c for c in exog.columns if str(c).startswith(GENERATION_VARIABLE)]]
    mix = [f"{GENERATION_VARIABLE}[{fuel}]" for fuel in MIX_FUELS]
    if not set(mix) & set(gen.columns):
        return None
    total = gen.sum(axis=1, min_count=1)
    shares = gen.reindex(columns=mix).div(total.where(total > 0), axis=0).to_numpy(dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a fuel the authority does not report
        varying = np.nanstd(shares[known], axis=0) > MIN_SHARE_STD
    return f.fill_gaps(shares[:, varying]) if varying.any() else None


def _build(y: np.ndarray, times: pd.DatetimeIndex, exog: pd.DataFrame | None, horizon_h: int):
    zf, z24, cal = f.filled(y), f.trailing_mean(y), f.calendar(times)
    shares = _shares(exog, np.isfinite(y))

    def columns(p: np.ndarray, h: int) -> np.ndarray:
        t = p + h
        day_before = zf[p + h - 24 * (h // 24 + 2)]  # same hour, one day before the last day
        parts = [
            np.column_stack([np.ones(len(p)), zf[p - 1], z24[p - 1], f.same_hour(zf, p, h, 24),
                             day_before, f.same_hour(zf, p, h, WEEK_H)]),
            cal.weekend(t),
            cal.annual(t),
            cal.daily(t),
        ]
        if shares is not None:
            parts.append(shares[p - 1])
        return np.hstack(parts)

    def back(values: np.ndarray, _t: int) -> np.ndarray:
        return np.maximum(values, 0.0)

    return Design(z=y, columns=columns, back=back, first_origin=WEEK_H, naive=zf)


CARBON = Kind(
    name="carbon",
    build=_build,
    seasonal_lag_h=24,
    exog_variables=(GENERATION_VARIABLE,),
    exog_after_issue=False,
    scale_free=True,
    description="direct regression on last value, same hour on the last two days and last "
    "week, weekend, season and the generation mix at the issue time",
)
