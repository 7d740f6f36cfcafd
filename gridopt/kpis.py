"""Key figures of a solved dispatch, and what it avoided against its baseline.

Energies are MWh over the horizon, emissions tonnes, money in the currency of the price series
(``attrs["currency"]``). Consumption is load served plus EV charging plus storage charging, minus
storage discharging; the linear network is lossless, so it equals net import plus generation. ``renewable_share`` is local renewable generation over that consumption; it
exceeds 1 when the feeder exports renewable power upstream.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

__all__ = ["kpis", "avoided", "air_quality_kpis", "policy_compared", "AVOIDED", "KPI_UNITS", "POLICY_COMPARED"]

KPI_UNITS = {
    "cost_total": "currency",
    "cost_energy": "currency",
    "cost_carbon": "currency",
    "cost_pollution": "currency",
    "co2_marginal_t": "t",
    "co2_average_t": "t",
    "nox_t": "t",
    "so2_t": "t",
    "pm25_t": "t",
    "import_mwh": "MWh",
    "export_mwh": "MWh",
    "renewable_mwh": "MWh",
    "curtailment_mwh": "MWh",
    "renewable_share": "1",
    "consumption_mwh": "MWh",
    "ev_energy_served_mwh": "MWh",
    "ev_unmet_mwh": "MWh",
    "load_shed_mwh": "MWh",
    "violations": "count",
}
"""Every key figure and its unit."""

AVOIDED = {
    "cost_total": "cost_avoided",
    "co2_marginal_t": "co2_marginal_avoided_t",
    "co2_average_t": "co2_average_avoided_t",
    "nox_t": "nox_avoided_t",
    "so2_t": "so2_avoided_t",
    "pm25_t": "pm25_avoided_t",
}
"""Key figure → the name of its saving against the baseline (baseline minus run)."""


def _energy(var: xr.DataArray | None, dt_h: float) -> float:
    return 0.0 if var is None else float(var.sum()) * dt_h


def kpis(results: xr.Dataset) -> dict[str, float]:
    """The key figures of a solved results dataset (see ``KPI_UNITS``)."""
    dt = float(results.attrs["time_step_h"])
    get = results.data_vars.get
    local = results["emissions_t"].sel(source="local").sum("time")
    local_co2 = float(local.sel(pollutant="co2"))
    net_import = results["ext_grid_import_mw"].sum("ext_grid")
    renewable = _energy(get("sgen_p_mw"), dt)
    # The linear network is lossless: what is consumed is what is imported or generated.
    consumption = float(net_import.sum()) * dt + _energy(get("gen_p_mw"), dt) + renewable
    figures = {
        "cost_energy": results.attrs.get("cost_energy", np.nan),
        "cost_carbon": results.attrs.get("cost_carbon", np.nan),
        "cost_pollution": results.attrs.get("cost_pollution", np.nan),
        "co2_marginal_t": float(results["grid_co2_marginal_t"].sum()) + local_co2,
        "co2_average_t": float(results["grid_co2_average_t"].sum()) + local_co2,
        "nox_t": float(local.sel(pollutant="nox")),
        "so2_t": float(local.sel(pollutant="so2")),
        "pm25_t": float(local.sel(pollutant="pm25")),
        "import_mwh": float(net_import.clip(min=0).sum()) * dt,
        "export_mwh": float((-net_import).clip(min=0).sum()) * dt,
        "renewable_mwh": renewable,
        "curtailment_mwh": _energy(get("sgen_curtailment_mw"), dt),
        "consumption_mwh": consumption,
        "renewable_share": renewable / consumption if consumption > 0 else np.nan,
        "ev_energy_served_mwh": _energy(get("ev_p_mw"), dt),
        "ev_unmet_mwh": float(get("ev_unmet_mwh").sum()) if "ev_unmet_mwh" in results else 0.0,
        "load_shed_mwh": _energy(get("load_shed_mw"), dt),
        "violations": float(len([x for x in results.attrs.get("explanation", "").split("\n") if x])),
    }
    figures["cost_total"] = figures["cost_energy"] + figures["cost_carbon"] + figures["cost_pollution"]
    return {k: float(figures[k]) for k in KPI_UNITS}


POLICY_COMPARED = ("cost_total", "co2_marginal_t", "co2_average_t",
                   "episode_nox_t", "episode_so2_t", "episode_pm25_t")
"""Key figures compared between a run with its air-quality policy and the same run without it."""

LOCAL_POLLUTANTS = ("nox", "so2", "pm25")


def policy_compared(figures: dict[str, float]) -> list[str]:
    """``POLICY_COMPARED`` and each zone's episode-hour emissions (``zone_<name>_episode_<p>_t``)."""
    ends = tuple(f"_episode_{p}_t" for p in LOCAL_POLLUTANTS)
    zones = [k for k in figures if k.startswith("zone_") and k.endswith(ends)]
    return [*POLICY_COMPARED, *zones]


def air_quality_kpis(results: xr.Dataset, standard: str) -> dict[str, float]:
    """Local pollutants in episode hours, hours per AQI category, and AQI-weighted emissions;
    the same per zone of the policy (``zone_<name>_*``) when the results hold the zones.

    Needs ``aq_episode(time)`` and ``aqi_<standard>(time, station)`` in ``results``; the hourly
    AQI is the highest of the stations. ``<pollutant>_aqi_weighted_t`` is Σ_t e_t · AQI_t / 100:
    a tonne emitted at AQI 200 counts twice, at AQI 50 half. Per zone (``aq_zone_episode``,
    ``aq_zone_aqi``, ``aq_zone_emissions_t``): the zone's own units, episode hours and AQI (the
    highest of its stations).
    """
    local = results["emissions_t"].sel(source="local")
    aqi = results[f"aqi_{standard}"].max("station", skipna=True)
    figures = _episode_figures(local, results["aq_episode"], aqi, standard, "")
    if "aq_zone_emissions_t" in results:
        for zone in results["aq_zone"].values.tolist():
            pick = {"aq_zone": zone}
            figures.update(_episode_figures(
                results["aq_zone_emissions_t"].sel(pick), results["aq_zone_episode"].sel(pick),
                results["aq_zone_aqi"].sel(pick), standard, f"zone_{zone}_"))
    return figures


def _episode_figures(emissions: xr.DataArray, episodes: xr.DataArray, aqi: xr.DataArray,
                     standard: str, prefix: str) -> dict[str, float]:
    """Episode hours, episode-hour and AQI-weighted tonnes of ``emissions(time, pollutant)``,
    hours per AQI category of ``aqi(time)``; keys start with ``prefix``."""
    from gridopt.environment import CHINA_CATEGORIES, EPA_CATEGORIES, aqi_category

    episodes = episodes.astype(bool)
    figures = {f"{prefix}episode_hours": float(episodes.sum())}
    for p in LOCAL_POLLUTANTS:
        series = emissions.sel(pollutant=p)
        figures[f"{prefix}episode_{p}_t"] = float(series.where(episodes, 0.0).sum())
        figures[f"{prefix}{p}_aqi_weighted_t"] = float((series * aqi.fillna(0.0) / 100).sum())
    categories = CHINA_CATEGORIES if standard == "china" else EPA_CATEGORIES
    codes = aqi_category(aqi.values, categories)
    for i, category in enumerate(categories):
        slug = category.name.lower().replace(" ", "_").replace("-", "_")
        figures[f"{prefix}aqi_hours_{slug}"] = float((codes == i).sum())
    return figures


def avoided(run: dict[str, float], baseline: dict[str, float]) -> dict[str, float]:
    """Baseline minus run for cost, CO2 (both signals) and pollutants: positive is a saving."""
    return {name: baseline[key] - run[key] for key, name in AVOIDED.items()}
