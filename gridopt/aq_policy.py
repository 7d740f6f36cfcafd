"""Air-quality-aware dispatch: AQI of the model's stations → episode hours → pollutant weights.

An hour is an *episode hour* when the highest AQI among the policy's stations (all stations when
none are listed) is at or above ``threshold_aqi`` on the policy's standard (China HJ 633-2012 or
US EPA). In ``price`` mode the pollutant damage costs of local combustion units are multiplied by
``factor`` in episode hours (the ``aq_weight(time)`` series the optimizer reads); outside them the
weight is 1. Hours without any valid AQI are not episode hours.
"""

from __future__ import annotations

import pandas as pd
import xarray as xr

from gridopt.config import AirQualityPolicy
from gridopt.errors import ConfigError

__all__ = ["AQI_LEAD_IN", "with_aqi", "episode_hours", "aq_weight"]

AQI_LEAD_IN = pd.Timedelta(hours=24)
"""Data before the window that the AQI needs (24-h trailing means of PM)."""


def with_aqi(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with ``aqi_china(time, station)`` and ``aqi_epa(time, station)`` added (hourly data).

    Computed on what ``ds`` holds, so give it ``AQI_LEAD_IN`` before the window.
    """
    from gridopt.environment import china_aqi, epa_aqi

    out = ds.copy()
    for name, index in (("aqi_china", china_aqi), ("aqi_epa", epa_aqi)):
        result = index(ds)
        out[name] = result[name].assign_attrs(units="1", cell_methods="time: mean",
                                              long_name=result[name].attrs.get("long_name", name))
        out[f"{name}_qc"] = result[f"{name}_qc"]
    return out


def episode_hours(series: xr.Dataset, policy: AirQualityPolicy, *, where: str) -> xr.DataArray:
    """Boolean ``(time)``: the highest AQI of the policy's stations is at or above the threshold."""
    name = f"aqi_{policy.standard}"
    if name not in series:
        raise ConfigError(
            f"{where}: policy.air_quality needs air-quality series (aq_<pollutant>_ug_m3 by station) "
            f"to compute {name}; add a [series.*] entry with an air-quality loader"
        )
    aqi = series[name]
    if policy.stations:
        missing = sorted(set(policy.stations) - set(aqi["station"].values.tolist()))
        if missing:
            raise ConfigError(
                f"{where}: policy.air_quality.stations must be stations of the data "
                f"(got {missing}; have {aqi['station'].values.tolist()})"
            )
        aqi = aqi.sel(station=policy.stations)
    highest = aqi.max("station", skipna=True)
    return (highest >= policy.threshold_aqi).fillna(False).rename("aq_episode")


def aq_weight(episodes: xr.DataArray, policy: AirQualityPolicy) -> xr.DataArray:
    """The hourly weight on pollutant damage costs: ``factor`` in episode hours, else 1."""
    weight = xr.where(episodes, policy.factor, 1.0).astype(float)
    return weight.assign_attrs(
        units="1",
        long_name="weight on pollutant damage costs (air-quality policy)",
        method=f"{policy.factor} where {policy.standard} AQI >= {policy.threshold_aqi}, else 1",
    ).rename("aq_weight")
