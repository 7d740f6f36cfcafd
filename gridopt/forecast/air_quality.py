"""Pollutant concentrations (``aq_pm25_ug_m3``, ``aq_o3_ug_m3`` …) with the weather as input.

The regression runs on log(1 + c) (c in the series' units, negative values taken as 0):
pollution episodes are multiplicative and the log keeps intervals positive and skewed. Features
of the target hour ``t`` from an issue at ``T``: the last value, the mean of the last 24 h, the
same hour on the last observed day, the time of year, the hour of day, a weekend flag, and the
weather of the station at ``t``, its mean from ``T`` to ``t`` (the ventilation since the issue,
which clears an episode), that mean times the last value (how fast an episode clears depends
on the weather: calm air keeps it) and the weather at ``T - 1 h``: wind as west-east and
south-north components (calm = 0), wind speed, relative humidity (given, or from temperature
and dew point by the Magnus formula), temperature, pressure and log(1 + rain).

The future weather is the OBSERVED weather, standing in for a weather forecast: these
forecasts are as good as a perfect weather forecast allows, an upper bound on what an
operational forecast driven by numerical weather prediction would reach.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridopt.forecast import features as f
from gridopt.forecast.core import Design, Kind

__all__ = ["AIR_QUALITY", "WEATHER_VARIABLES", "relative_humidity_percent", "wind_components"]

WEATHER_VARIABLES = (
    "weather_wind_speed_m_s",
    "weather_wind_dir_deg",
    "weather_temp_c",
    "weather_dewpoint_c",
    "weather_rh_percent",
    "weather_pressure_hpa",
    "weather_rain_mm",
)
_MAGNUS_A, _MAGNUS_B_C = 17.625, 243.04  # Alduchov & Eskridge (1996), over water


def relative_humidity_percent(temp_c, dewpoint_c):
    """Relative humidity (%) from air temperature and dew point (°C), Magnus formula."""
    a, b = _MAGNUS_A, _MAGNUS_B_C
    return 100.0 * np.exp(a * dewpoint_c / (b + dewpoint_c) - a * temp_c / (b + temp_c))


def wind_components(speed_m_s, from_deg):
    """(u, v) in m/s: the wind vector's eastward and northward parts.

    ``from_deg`` is where the wind blows from, clockwise from north (a north wind, 0°, has
    v = -speed). A missing direction with a speed given (calm or variable) gives 0.
    """
    rad = np.deg2rad(from_deg)
    calm = np.isnan(rad) & ~np.isnan(speed_m_s)
    u, v = -speed_m_s * np.sin(rad), -speed_m_s * np.cos(rad)
    return np.where(calm, 0.0, u), np.where(calm, 0.0, v)


def _weather(exog: pd.DataFrame | None) -> np.ndarray | None:
    """The weather features per hour (gaps interpolated), or None without weather."""
    if exog is None:
        return None
    col = {name: exog[name].to_numpy(dtype=float) for name in WEATHER_VARIABLES if name in exog}
    parts = []
    if "weather_wind_speed_m_s" in col:
        speed = col["weather_wind_speed_m_s"]
        if "weather_wind_dir_deg" in col:
            parts += wind_components(speed, col["weather_wind_dir_deg"])
        parts.append(speed)
    if "weather_rh_percent" in col:
        parts.append(col["weather_rh_percent"])
    elif "weather_temp_c" in col and "weather_dewpoint_c" in col:
        parts.append(relative_humidity_percent(col["weather_temp_c"], col["weather_dewpoint_c"]))
    parts += [col[n] for n in ("weather_temp_c", "weather_pressure_hpa") if n in col]
    if "weather_rain_mm" in col:
        parts.append(np.log1p(np.maximum(col["weather_rain_mm"], 0.0)))
    return f.fill_gaps(np.column_stack(parts)) if parts else None


def _build(y: np.ndarray, times: pd.DatetimeIndex, exog: pd.DataFrame | None, horizon_h: int):
    z = np.log1p(np.maximum(y, 0.0))
    zf, z24, cal = f.filled(z), f.trailing_mean(z), f.calendar(times)
    weather = _weather(exog)
    cum = f.cumulative(weather) if weather is not None else None

    def columns(p: np.ndarray, h: int) -> np.ndarray:
        t = p + h
        parts = [
            np.column_stack([np.ones(len(p)), zf[p - 1], z24[p - 1], f.same_hour(zf, p, h, 24)]),
            cal.annual(t),
            cal.weekend(t),
            cal.daily(t),
        ]
        if weather is not None:
            since = f.window_mean(cum, p, t)
            parts += [weather[t], since, weather[p - 1], since * zf[p - 1][:, None]]
        return np.hstack(parts)

    def back(values: np.ndarray, _t: int) -> np.ndarray:
        return np.maximum(np.expm1(values), 0.0)

    return Design(z=z, columns=columns, back=back, first_origin=24, naive=zf)


AIR_QUALITY = Kind(
    name="air_quality",
    build=_build,
    seasonal_lag_h=24,
    exog_variables=WEATHER_VARIABLES,
    exog_after_issue=True,
    scale_free=False,
    description="log(1 + c) regression on last value, same hour last day, season and the "
    "station's weather at the target, since the issue and at the issue (observed weather "
    "stands in for a weather forecast)",
)
