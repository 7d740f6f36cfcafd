"""Small grids and series for the dispatch tests, each simple enough to solve by hand."""

from __future__ import annotations

import numpy as np
import pandapower as pp
import pandas as pd
import xarray as xr

START = "2024-01-01"


def hours(n: int) -> pd.DatetimeIndex:
    return pd.date_range(START, periods=n, freq="h")


def series(n: int, price_per_mwh=None, **variables) -> xr.Dataset:
    """A series dataset over ``n`` hours; ``price_per_mwh`` is the ext_grid price."""
    ds = xr.Dataset(coords={"time": hours(n)})
    if price_per_mwh is not None:
        ds["ext_grid_price_per_mwh"] = ("time", np.broadcast_to(np.asarray(price_per_mwh, float), n))
    for name, (dims, values) in variables.items():
        ds[name] = (dims, values)
    return ds


def line_rating_ka(mva: float, vn_kv: float) -> float:
    """max_i_ka that gives a thermal rating of ``mva`` at ``vn_kv``."""
    return mva / (np.sqrt(3) * vn_kv)


def two_buses(vn_kv: float = 110.0, rating_mva: float = 1000.0):
    """Bus 0 (ext_grid) — line 0 (10 km, x = 0.4 Ω/km) — bus 1."""
    net = pp.create_empty_network(sn_mva=100.0)
    b0 = pp.create_bus(net, vn_kv, name="upstream")
    b1 = pp.create_bus(net, vn_kv, name="town")
    pp.create_ext_grid(net, b0)
    pp.create_line_from_parameters(
        net, b0, b1, length_km=10, r_ohm_per_km=0.1, x_ohm_per_km=0.4, c_nf_per_km=0,
        max_i_ka=line_rating_ka(rating_mva, vn_kv), name="tie",
    )
    return net


def feeder():
    """20 kV radial feeder: bus 0 (ext_grid, 1.0 pu) — line 0 — bus 1 — line 1 — bus 2.

    Each line: 2 km of r = 0.5 Ω/km, x = 0.4 Ω/km, i.e. r = 1 Ω = 0.0025 pu and x = 0.8 Ω =
    0.002 pu on 1 MVA and Z_base = 20²/1 = 400 Ω.
    """
    net = pp.create_empty_network(sn_mva=1.0)
    buses = [pp.create_bus(net, 20.0, name=f"feeder {i}") for i in range(3)]
    pp.create_ext_grid(net, buses[0], vm_pu=1.0)
    for a, b in zip(buses[:-1], buses[1:]):
        pp.create_line_from_parameters(
            net, a, b, length_km=2, r_ohm_per_km=0.5, x_ohm_per_km=0.4, c_nf_per_km=0, max_i_ka=1.0
        )
    return net


def ev_sessions(rows: list[dict]) -> xr.Dataset:
    """EV sessions from dicts with id, bus, arrival, departure, energy_mwh, p_max_mw (, v2g)."""
    frame = pd.DataFrame(rows).set_index("id")
    ds = xr.Dataset(
        {
            "ev_bus": ("session", frame.bus.to_numpy()),
            "ev_arrival_time": ("session", pd.to_datetime(frame.arrival).to_numpy()),
            "ev_departure_time": ("session", pd.to_datetime(frame.departure).to_numpy()),
            "ev_energy_mwh": ("session", frame.energy_mwh.to_numpy(float)),
            "ev_p_max_mw": ("session", frame.p_max_mw.to_numpy(float)),
        },
        coords={"session": frame.index.to_numpy()},
    )
    if "v2g" in frame:
        ds["ev_v2g"] = ("session", frame.v2g.to_numpy(bool))
    return ds
