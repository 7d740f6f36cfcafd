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


def triangle(n: int):
    """Three 110 kV buses in a loop: import at 0, a unit at 1, PV and a battery at 2; ``n`` hours
    of seeded daily load, PV and price profiles. Returns the net and its series (price included)."""
    rng = np.random.default_rng(7)
    load1 = 60 + 20 * np.sin(np.arange(n) / 24 * 2 * np.pi) + rng.uniform(0, 5, n)
    load2 = 40 + 10 * np.cos(np.arange(n) / 24 * 2 * np.pi)
    pv = 50 * np.clip(np.sin((np.arange(n) % 24 - 6) / 12 * np.pi), 0, None)
    price = 40 + 30 * np.sin((np.arange(n) - 8) / 24 * 2 * np.pi)
    net = pp.create_empty_network(sn_mva=100.0)
    b = [pp.create_bus(net, 110.0) for _ in range(3)]
    pp.create_ext_grid(net, b[0])
    for (f, t, km, mva) in ((0, 1, 20, 45.0), (1, 2, 15, 80.0), (0, 2, 30, 60.0)):
        pp.create_line_from_parameters(net, b[f], b[t], km, 0.05, 0.4, 0, line_rating_ka(mva, 110.0))
    pp.create_load(net, b[1], p_mw=0)
    pp.create_load(net, b[2], p_mw=0)
    pp.create_gen(net, b[1], p_mw=0, min_p_mw=0, max_p_mw=80)
    pp.create_poly_cost(net, 0, "gen", cp1_eur_per_mw=45.0)
    pp.create_sgen(net, b[2], p_mw=50)
    pp.create_storage(net, b[2], p_mw=0, max_e_mwh=20, soc_percent=25, max_p_mw=10, min_p_mw=-10)
    ds = series(
        n,
        price,
        load_p_mw=(("time", "load"), np.stack([load1, load2], axis=1)),
        sgen_p_max_mw=(("time", "sgen"), pv[:, None]),
    )
    return net, ds.assign_coords(load=[0, 1], sgen=[0])
