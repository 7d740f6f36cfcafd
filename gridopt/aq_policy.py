"""Air-quality-aware dispatch: AQI of the model's stations → episode hours by zone → the weights
or caps the optimizer reads, and the zones' emissions of a solved run.

A *zone* is a set of buses policed on the AQI of its own stations; without ``zones`` the whole
model is one zone ``"all"`` on the listed stations (every station when none are listed). An hour
is an *episode hour* of a zone when the **highest** AQI among its stations is at or above
``threshold_aqi`` on the policy's standard (China HJ 633-2012 or US EPA). The highest, not the
mean: the alert schemes (Beijing's heavy-pollution emergency plan, EPA's AQI reporting) act on the
worst monitored reading, and a mean over stations would let one heavily polluted neighbourhood be
averaged away. Hours without any valid AQI at the zone's stations are not episode hours.

A thermal unit (pandapower ``gen``) is in a zone when its bus is; units outside every zone are
not policed. In episode hours of its zone a unit's pollutant damage costs are × ``factor``
(``price``: ``aq_weight``), or the zone's summed local emissions are held to ``cap_kg_per_h``
per pollutant and hour (``cap``: ``aq_cap_kg_per_h``, see ``gridopt.dispatch.emissions``).

Series the scenario gets (all dims named, NaN-free except the caps):

- ``aq_zone_aqi(time, aq_zone)``: highest AQI of the zone's stations (1)
- ``aq_zone_episode(time, aq_zone)`` and ``aq_episode(time)`` (any zone): episode hours (bool)
- ``aq_zone_gen(aq_zone, gen)``: the units of each zone (bool)
- ``aq_weight``: ``(time)`` for the whole-model form, ``(time, gen)`` with zones (price mode)
- ``aq_cap_kg_per_h(time, aq_zone, pollutant)``: the cap in the zone's episode hours, NaN where
  none holds (other hours, uncapped pollutants, CO2) (cap mode)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from gridopt.config import AirQualityPolicy
from gridopt.errors import ConfigError

__all__ = [
    "AQI_LEAD_IN",
    "POLICY_INPUTS",
    "Zone",
    "with_aqi",
    "episode_hours",
    "aq_weight",
    "policy_zones",
    "policy_series",
    "without_policy",
    "zone_emissions_t",
]

AQI_LEAD_IN = pd.Timedelta(hours=24)
"""Data before the window that the AQI needs (24-h trailing means of PM)."""

POLICY_INPUTS = ("aq_weight", "aq_cap_kg_per_h")
"""The series by which the policy acts on the dispatch; without them it runs unpoliced."""

WHOLE_MODEL = "all"
"""The name of the one zone of a policy without ``zones``."""

POLLUTANTS = ("co2", "nox", "so2", "pm25")  # the order of the results' pollutant coordinate


@dataclass(frozen=True)
class Zone:
    """A validated zone: its stations, the pandapower buses it covers, its caps (kg/h)."""

    name: str
    stations: list[str]
    buses: list[int]
    cap_kg_per_h: dict[str, float]


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


def _aqi(series: xr.Dataset, policy: AirQualityPolicy, where: str) -> xr.DataArray:
    name = f"aqi_{policy.standard}"
    if name not in series:
        raise ConfigError(
            f"{where}: policy.air_quality needs air-quality series (aq_<pollutant>_ug_m3 by station) "
            f"to compute {name}; add a [series.*] entry with an air-quality loader"
        )
    return series[name]


def _highest(aqi: xr.DataArray, stations: list[str]) -> xr.DataArray:
    """(time) highest AQI of ``stations`` (all when empty); NaN where none has a value."""
    return (aqi.sel(station=stations) if stations else aqi).max("station", skipna=True)


def episode_hours(series: xr.Dataset, policy: AirQualityPolicy, *, where: str) -> xr.DataArray:
    """Boolean ``(time)``: the highest AQI of the policy's stations is at or above the threshold
    (the whole-model form; ``policy_series`` handles zones)."""
    aqi = _aqi(series, policy, where)
    _check_stations(policy.stations, aqi, "policy.air_quality.stations", where)
    highest = _highest(aqi, policy.stations)
    return (highest >= policy.threshold_aqi).fillna(False).rename("aq_episode")


def aq_weight(episodes: xr.DataArray, policy: AirQualityPolicy) -> xr.DataArray:
    """The weight on pollutant damage costs: ``factor`` in episode hours, else 1 (any shape)."""
    weight = xr.where(episodes, policy.factor, 1.0).astype(float)
    return weight.assign_attrs(
        units="1",
        long_name="weight on pollutant damage costs (air-quality policy)",
        method=f"{policy.factor} where {policy.standard} AQI >= {policy.threshold_aqi}, else 1",
    ).rename("aq_weight")


def _check_stations(stations: list[str], aqi: xr.DataArray, key: str, where: str) -> None:
    have = aqi["station"].values.tolist()
    missing = [s for s in stations if s not in have]
    if missing:
        raise ConfigError(f"{where}: {key} must be stations of the data (got {missing}; have {have})")


def policy_zones(policy: AirQualityPolicy, net, stations: list[str], *, where: str) -> list[Zone]:
    """The policy's zones, checked against the network's buses and the data's stations.

    Without ``zones``: one zone ``"all"`` over every bus. An unknown station or bus, or a bus in
    two zones, is a one-line ``ConfigError`` naming the zone and the value.
    """
    if not policy.zones:
        return [Zone(WHOLE_MODEL, list(policy.stations), net.bus.index.tolist(), dict(policy.cap_kg_per_h))]
    zones, owner = [], {}
    for name, spec in policy.zones.items():
        key = f"policy.air_quality.zones.{name}"
        unknown = [s for s in spec.stations if s not in stations]
        if unknown:
            raise ConfigError(f"{where}: {key}.stations: {unknown[0]!r} is not a station of the data "
                              f"(have {stations})")
        buses = [_bus(net, ref, f"{key}.buses", where) for ref in spec.buses]
        for bus in buses:
            if owner.setdefault(bus, name) != name:
                raise ConfigError(f"{where}: {key}.buses: bus {bus} is already in zone {owner[bus]!r} "
                                  "(a bus belongs to one zone at most)")
        zones.append(Zone(name, list(spec.stations), buses, {**policy.cap_kg_per_h, **spec.cap_kg_per_h}))
    return zones


def _bus(net, ref: int | str, key: str, where: str) -> int:
    """The pandapower index of a bus given by index or by name."""
    if isinstance(ref, int):
        if ref not in net.bus.index:
            raise ConfigError(f"{where}: {key}: bus {ref} is not a bus of the network "
                              f"(0..{net.bus.index.max()})")
        return ref
    found = net.bus.index[net.bus.name.astype(str) == ref].tolist()
    if len(found) != 1:
        what = "no bus" if not found else f"{len(found)} buses ({found})"
        raise ConfigError(f"{where}: {key}: bus name {ref!r} must name one bus of the network (got {what})")
    return int(found[0])


def policy_series(policy: AirQualityPolicy, net, series: xr.Dataset, *, where: str) -> xr.Dataset:
    """The policy's series for ``series`` and the net with its thermal units (module docstring)."""
    aqi = _aqi(series, policy, where)
    _check_stations(policy.stations, aqi, "policy.air_quality.stations", where)
    zones = policy_zones(policy, net, aqi["station"].values.tolist(), where=where)
    names = [z.name for z in zones]
    highest = xr.concat([_highest(aqi, z.stations) for z in zones], dim="aq_zone")
    highest = highest.assign_coords(aq_zone=names).transpose("time", "aq_zone")
    episode = (highest >= policy.threshold_aqi).fillna(False)
    members = np.array([net.gen.bus.isin(z.buses).to_numpy() for z in zones]).reshape(len(zones), len(net.gen))
    member = xr.DataArray(members, dims=("aq_zone", "gen"), coords={"aq_zone": names, "gen": net.gen.index})
    out = xr.Dataset({
        "aq_zone_aqi": highest.assign_attrs(units="1", cell_methods="time: mean",
                                            long_name=f"highest {policy.standard} AQI of the zone's stations"),
        "aq_zone_episode": episode.assign_attrs(long_name="episode hour of the zone (AQI >= threshold)",
                                                threshold_aqi=policy.threshold_aqi),
        "aq_episode": episode.any("aq_zone").assign_attrs(long_name="episode hour of any zone"),
        "aq_zone_gen": member.assign_attrs(long_name="thermal units of the zone"),
    })
    if policy.mode == "price":
        out["aq_weight"] = _weight(policy, episode, member)
    if policy.mode == "cap":
        out["aq_cap_kg_per_h"] = _caps(zones, episode)
    return out


def _weight(policy: AirQualityPolicy, episode: xr.DataArray, member: xr.DataArray) -> xr.DataArray:
    """``(time)`` for the whole model, else ``(time, gen)``: factor where the unit's zone is in
    an episode hour (a unit is in one zone at most)."""
    if episode.sizes["aq_zone"] == 1 and episode["aq_zone"].item() == WHOLE_MODEL:
        return aq_weight(episode.isel(aq_zone=0, drop=True), policy)
    policed = (episode & member).any("aq_zone").transpose("time", "gen")
    return aq_weight(policed, policy)


def _caps(zones: list[Zone], episode: xr.DataArray) -> xr.DataArray:
    caps = np.array([[z.cap_kg_per_h.get(p, np.nan) for p in POLLUTANTS] for z in zones])  # (K, P)
    values = np.where(episode.values[:, :, None], caps[None, :, :], np.nan)
    return xr.DataArray(
        values, dims=("time", "aq_zone", "pollutant"),
        coords={"time": episode["time"], "aq_zone": episode["aq_zone"], "pollutant": list(POLLUTANTS)},
        attrs={"units": "kg/h", "cell_methods": "time: mean",
               "long_name": "cap on the zone's local emissions in its episode hours (NaN: none)"},
    )


def without_policy(series: xr.Dataset) -> xr.Dataset:
    """``series`` with the policy's levers removed (episodes and AQI kept, for the comparison)."""
    return series.drop_vars([v for v in POLICY_INPUTS if v in series])


def zone_emissions_t(gen_p_mw: xr.DataArray, member: xr.DataArray, gens: Mapping[int, Mapping],
                     default: Mapping, dt_h: float) -> xr.DataArray:
    """``(time, aq_zone, pollutant)`` tonnes per step emitted by each zone's thermal units.

    ``gens`` maps a gen index to its factors (``<pollutant>_t_per_mwh``, as in
    ``DispatchOptions.gens``); units without an entry take ``default``.
    """
    index = gen_p_mw["gen"].values.tolist()
    ef = np.array([[gens.get(g, default)[f"{p}_t_per_mwh"] for p in POLLUTANTS] for g in index]).reshape(-1, 4)
    inside = member.sel(gen=index).values.astype(float)  # (K, G)
    power = gen_p_mw.transpose("time", "gen").values  # (T, G)
    tonnes = np.einsum("tg,kg,gp->tkp", power, inside, ef) * dt_h
    return xr.DataArray(
        tonnes, dims=("time", "aq_zone", "pollutant"),
        coords={"time": gen_p_mw["time"], "aq_zone": member["aq_zone"], "pollutant": list(POLLUTANTS)},
        attrs={"units": "t", "long_name": "emissions of the zone's thermal units per step"},
    )
