"""Per-EV-session cost and carbon statement of a stored run.

For each session (or each bus, when the run used the aggregated EV formulation): the energy it
drew, when, and what that energy cost and emitted at the grid's hourly price and CO2 intensity
(marginal and average signals), with the energy-weighted mean price and intensities. Charging is
attributed the grid's intensity at the hour it happened, whatever supplied the bus locally: this
is the consequential (marginal) and attributional (average) view a driver's statement needs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from gridopt.errors import DataError

__all__ = ["ev_statement"]

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
