"""PV output or availability: forecast as a clear-sky index; night from the nights before.

The series is divided by a clear-sky reference ``c(t)``: pvlib's clear-sky GHI
(``Location.get_clearsky``, Ineichen) when the site's latitude and longitude are known, else an
empirical envelope: the highest value at the same hour over 14 days, all at least
ceil(H / 24) days before the target so that the envelope of every forecast hour is known at the
issue time. The public data sets here give no site coordinates (the SGCC plants are
anonymised, SimBench profiles generic); on the SimBench PV profiles the envelope was 2-4 %
more accurate (MAE) than pvlib clear sky at a central German site.

Hours where ``c(t)`` is below 5 % of its maximum are night: their forecast distribution is the
values at that hour on the same 14 days, so 0 with zero-width intervals for a plant that reads 0
at night (SimBench, SGCC site 1) and the plant's own consumption where it is metered (SGCC
site 5 reads about -0.27 MW at night).

Features of the clear-sky index at ``t``: the index at the same hour on the last observed day,
the mean daytime index of the last 24 h and, when irradiance is given
(``irradiance_total_w_m2``, else ``irradiance_ghi_w_m2``), the irradiance's own clear-sky index
at ``t``. Future irradiance is the MEASURED one, standing in for a weather forecast. The
forecast is index × ``c(t)``, clipped to the range of the values seen (at most 0 to the
highest).
"""

from __future__ import annotations

import warnings
from functools import partial

import numpy as np
import pandas as pd

from gridopt.forecast import features as f
from gridopt.forecast.core import Design, Kind

__all__ = ["IRRADIANCE_VARIABLES", "PV", "pv_kind"]

IRRADIANCE_VARIABLES = ("irradiance_total_w_m2", "irradiance_ghi_w_m2")
"""Irradiance series used when present, first found first."""

ENVELOPE_DAYS = 14
LOW_SUN = 0.05  # a clear-sky reference below this share of its maximum is night


def _same_hour_lags(y: np.ndarray, horizon_h: int) -> np.ndarray:
    """(ENVELOPE_DAYS, n): ``y`` at the same hour on 14 days, the newest ceil(H / 24) days back."""
    first = -(-horizon_h // 24)
    return np.vstack([np.concatenate([np.full(24 * j, np.nan), y[: len(y) - 24 * j]])
                      for j in range(first, first + ENVELOPE_DAYS)])


def _envelope(lags: np.ndarray) -> np.ndarray:
    """The highest of the same-hour values (the empirical clear-sky reference)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN hours at the data's start
        return np.nanmax(lags, axis=0)


def _clearsky_ghi(times: pd.DatetimeIndex, location: tuple[float, float]) -> np.ndarray:
    from pvlib.location import Location

    latitude, longitude = location
    return Location(latitude, longitude).get_clearsky(times.tz_localize("UTC"))["ghi"].to_numpy()


def _index(values: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(values / reference in daylight else NaN, the daylight mask)."""
    with np.errstate(invalid="ignore"):
        day = reference > LOW_SUN * np.nanmax(reference)
        return np.where(day, values / np.where(day, reference, 1.0), np.nan), day


def pv_kind(location: tuple[float, float] | None = None) -> Kind:
    """The PV kind; ``location`` = (latitude, longitude) in degrees selects pvlib clear sky."""
    where = "envelope" if location is None else f"pvlib clear sky at {location}"
    return Kind(
        name="pv",
        build=partial(_build, location=location),
        seasonal_lag_h=24,
        exog_variables=IRRADIANCE_VARIABLES,
        exog_after_issue=True,
        scale_free=True,
        description=f"clear-sky index ({where}) regression on yesterday, last day, irradiance",
    )


def _build(y: np.ndarray, times: pd.DatetimeIndex, exog: pd.DataFrame | None, horizon_h: int,
           *, location: tuple[float, float] | None) -> Design:
    lags = _same_hour_lags(y, horizon_h)
    reference = _envelope(lags) if location is None else _clearsky_ghi(times, location)
    z, day = _index(y, reference)
    zf = f.filled(z)
    daytime_mean = pd.Series(z).rolling(24, min_periods=1).mean().to_numpy()
    sky = _irradiance_index(exog, horizon_h)
    low, high = min(np.nanmin(y), 0.0), np.nanmax(y)

    def columns(p: np.ndarray, h: int) -> np.ndarray:
        parts = [np.ones(len(p)), f.same_hour(zf, p, h, 24), daytime_mean[p - 1]]
        if sky is not None:
            parts.append(sky[p + h])
        return np.column_stack(parts)

    def back(values: np.ndarray, t: int) -> np.ndarray:
        return np.clip(values * reference[t], low, high)

    def night(t: int) -> np.ndarray | None:
        return None if day[t] else lags[:, t][np.isfinite(lags[:, t])]

    first = 24 * (-(-horizon_h // 24) + ENVELOPE_DAYS)
    return Design(z=z, columns=columns, back=back, first_origin=first, fixed=night)


def _irradiance_index(exog: pd.DataFrame | None, horizon_h: int) -> np.ndarray | None:
    """The first irradiance column present, as its own clear-sky index (0 at night)."""
    name = next((n for n in IRRADIANCE_VARIABLES if exog is not None and n in exog), None)
    if name is None:
        return None
    irradiance = f.fill_gaps(exog[[name]].to_numpy(dtype=float))[:, 0]
    index, _day = _index(irradiance, _envelope(_same_hour_lags(irradiance, horizon_h)))
    return np.nan_to_num(index, nan=0.0)


PV = pv_kind()
