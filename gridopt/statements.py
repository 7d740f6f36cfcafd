"""Per-EV-session and per-bus cost and carbon statements of a stored run.

``ev_statement``: for each session (or each bus, when the run used the aggregated EV formulation): the energy it
drew, when, and what that energy cost and emitted at the grid's hourly price and CO2 intensity
(marginal and average signals), with the energy-weighted mean price and intensities. Charging is
attributed the grid's intensity at the hour it happened, whatever supplied the bus locally: this
is the consequential (marginal) and attributional (average) view a driver's statement needs.

``bus_statement``: for each bus, the energy drawn there by load (served: demand minus shed), EV
charging and storage (charge minus discharge), at the bus's nodal price, and its share of the
run's CO2. Sign convention: drawn energy is positive when the bus takes energy from the network;
V2G and storage discharge count negative; local generation at the bus is supply and not netted.
CO2 is attributed at the hour's *supply intensity* of the feeder, for each grid signal s::

    I_s[t] = (CO2 of the local units[t] + grid import[t] × grid intensity_s[t]) / Σ_bus drawn[t]

(t/MWh; net exports credited at the grid intensity), so that the statement's CO2 sums to the
run's (``kpi_co2_marginal_t``, ``kpi_co2_average_t``) and its energy to the run's consumption
(``kpi_consumption_mwh``) less what the network's shunts consume (transformer iron losses, line
conductance: LinDistFlow), which no bus draws; their CO2 is spread over the buses with the rest.
A step without net consumption has no intensity (its emissions, if any, stay unattributed).
Units: MWh, t, the run's currency.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from gridopt.errors import DataError

__all__ = ["ev_statement", "bus_statement", "statement_inputs"]

_SIGNALS = {
    "cost": "ext_grid_price_per_mwh",
    "co2_marginal_t": "ext_grid_co2_marginal_t_per_mwh",
    "co2_average_t": "ext_grid_co2_average_t_per_mwh",
}


def ev_statement(results: xr.Dataset, *, where: str = "run") -> pd.DataFrame:
    """One row per EV session (or bus): energy (MWh), first/last charging hour (UTC), cost, CO2 (t)."""
    if "ev_p_mw" not in results:
        raise DataError(f"{where}: has no EV charging (ev_p_mw) to make a statement of")
    missing = [v for v in _SIGNALS.values() if v not in results]
    if missing:
        raise DataError(f"{where}: the statement needs {', '.join(missing)} in the results")
    dt_h = float(results.attrs.get("time_step_h", 1.0))
    power = results["ev_p_mw"].transpose("time", ...)
    unit_dim = power.dims[1]
    energy = power.values * dt_h  # (T, N) MWh, negative when V2G discharges
    frame = pd.DataFrame({unit_dim: results[unit_dim].values})
    if "ev_bus" in results and unit_dim == "session":
        frame["bus"] = results["ev_bus"].values
    frame["energy_mwh"] = energy.sum(axis=0)
    frame["first_charge_utc"], frame["last_charge_utc"] = _charging_span(energy, results.indexes["time"])
    for column, signal in _SIGNALS.items():
        frame[column] = energy.T @ results[signal].values
    total = frame["energy_mwh"].where(frame["energy_mwh"] > 0)
    frame["mean_price_per_mwh"] = frame["cost"] / total
    frame["mean_co2_marginal_t_per_mwh"] = frame["co2_marginal_t"] / total
    frame["mean_co2_average_t_per_mwh"] = frame["co2_average_t"] / total
    if "ev_unmet_mwh" in results:
        frame["unmet_mwh"] = results["ev_unmet_mwh"].values
    currency = results.attrs.get("currency", "EUR")
    return frame.rename(columns={"cost": f"cost_{currency.lower()}",
                                 "mean_price_per_mwh": f"mean_price_{currency.lower()}_per_mwh"})


def _charging_span(energy: np.ndarray, times: pd.DatetimeIndex) -> tuple[list, list]:
    """First and last step with charging (> 1 Wh) of each column; empty where none."""
    charging = energy > 1e-6
    first = np.where(charging.any(axis=0), charging.argmax(axis=0), -1)
    last = np.where(charging.any(axis=0), len(times) - 1 - charging[::-1].argmax(axis=0), -1)
    return [_label(times, i) for i in first], [_label(times, i) for i in last]


def _label(times: pd.DatetimeIndex, i: int) -> str:
    return f"{times[i]:%Y-%m-%dT%H:%MZ}" if i >= 0 else ""


def statement_inputs(net, series: xr.Dataset) -> xr.Dataset:
    """What ``bus_statement`` needs beside the dispatch: ``bus_load_p_mw(time, bus)``, the demand
    of the in-service loads at each bus (series values, else the net's ``p_mw × scaling``), and
    ``storage_bus(storage)``."""
    load = net.load[net.load.in_service.astype(bool)]
    times = series.indexes["time"]
    static = (load.p_mw * load.scaling).to_numpy(dtype=float)
    frame = pd.DataFrame(np.broadcast_to(static, (len(times), len(load))).copy(), index=times, columns=load.index)
    if "load_p_mw" in series:
        given = series["load_p_mw"].transpose("time", "load").to_pandas()
        frame.update(given.reindex(columns=[c for c in given.columns if c in frame.columns]))
    per_bus = frame.T.groupby(load.bus.to_numpy()).sum().T.reindex(columns=net.bus.index, fill_value=0.0)
    return xr.Dataset({
        "bus_load_p_mw": xr.DataArray(per_bus.to_numpy(), dims=("time", "bus"),
                                      coords={"time": times, "bus": net.bus.index},
                                      attrs={"units": "MW", "long_name": "load demand at the bus (before shedding)",
                                             "cell_methods": "time: mean"}),
        "storage_bus": xr.DataArray(net.storage.bus.to_numpy(), dims="storage",
                                    coords={"storage": net.storage.index},
                                    attrs={"units": "1", "long_name": "pandapower bus of the battery"}),
    })


def bus_statement(results: xr.Dataset, *, where: str = "run") -> pd.DataFrame:
    """One row per bus: energy drawn by load, EVs and storage (MWh), cost at the nodal price,
    CO2 (t) at the feeder's supply intensity, marginal and average (module docstring)."""
    needed = ["bus_load_p_mw", "load_shed_mw", "bus_price_per_mwh", "emissions_t",
              "grid_co2_marginal_t", "grid_co2_average_t"]
    missing = [v for v in needed if v not in results]
    if missing:
        raise DataError(f"{where}: the per-bus statement needs {', '.join(missing)} in the results "
                        "(runs stored before it existed lack bus_load_p_mw: run the model again)")
    dt_h = float(results.attrs.get("time_step_h", 1.0))
    buses = results["bus"].values
    load = (results["bus_load_p_mw"] - results["load_shed_mw"]).transpose("time", "bus").values * dt_h
    ev = _at_buses(results, buses, "ev") * dt_h
    storage = _at_buses(results, buses, "storage") * dt_h
    drawn = load + ev + storage  # (T, B) MWh
    frame = pd.DataFrame({"bus": buses, "load_mwh": load.sum(axis=0), "ev_mwh": ev.sum(axis=0),
                          "storage_mwh": storage.sum(axis=0), "drawn_mwh": drawn.sum(axis=0)})
    currency = results.attrs.get("currency", "EUR").lower()
    frame[f"cost_{currency}"] = (drawn * results["bus_price_per_mwh"].transpose("time", "bus").values).sum(axis=0)
    local = results["emissions_t"].sel(pollutant="co2", source="local").values
    total = drawn.sum(axis=1)
    for signal in ("marginal", "average"):
        emitted = local + results[f"grid_co2_{signal}_t"].values
        intensity = np.divide(emitted, total, out=np.zeros_like(total), where=total > 1e-9)
        frame[f"co2_{signal}_t"] = drawn.T @ intensity
    positive = frame["drawn_mwh"].where(frame["drawn_mwh"] > 0)
    frame[f"mean_price_{currency}_per_mwh"] = frame[f"cost_{currency}"] / positive
    frame["mean_co2_marginal_t_per_mwh"] = frame["co2_marginal_t"] / positive
    frame["mean_co2_average_t_per_mwh"] = frame["co2_average_t"] / positive
    return frame


def _at_buses(results: xr.Dataset, buses: np.ndarray, kind: str) -> np.ndarray:
    """(T, B) MW drawn at each bus by EV charging (``kind="ev"``: per session with ``ev_bus``, or
    per EV bus in the aggregated form) or by storage (``"storage"``: charge − discharge)."""
    out = np.zeros((results.sizes["time"], len(buses)))
    if kind == "ev" and "ev_p_mw" in results:
        power, at = results["ev_p_mw"].transpose("time", ...), results["ev_bus"].values
    elif kind == "storage" and results.sizes.get("storage", 0):
        power = (results["storage_charge_mw"] - results["storage_discharge_mw"]).transpose("time", "storage")
        at = results["storage_bus"].sel(storage=power["storage"]).values
    else:
        return out
    column = pd.Index(buses).get_indexer(at)
    if (column < 0).any():
        raise DataError(f"results: {kind} at bus {at[column < 0][0]}, which is not a bus of the results")
    np.add.at(out.T, column, power.values.T)
    return out
