"""Write the data files of the bad-input corpus (NetCDF, pandapower JSON, CSV, ACN JSON).

The model files (``*.toml``) are written by hand; this script makes the data they point at, so
the binary files can be checked against their recipe. Run from the repository root::

    python tests/bad_inputs/_make_corpus.py

Every file is small: 6–48 hourly steps, a 4-bus feeder. Networks are written with
``pandapower.to_json`` and then pruned of empty tables and ``std_types`` (pandapower adds the
missing tables back on reading), which keeps each file at a few kB instead of 100 kB.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pandapower as pp
import xarray as xr

HERE = Path(__file__).resolve().parent
START = pd.Timestamp("2021-01-01")
CO2 = {"units": "t/MWh", "cell_methods": "time: mean"}


# ---------------------------------------------------------------- common


def carbon(times, average=0.4, marginal=0.5) -> xr.Dataset:
    """The two carbon signals every model needs, constant unless arrays are given."""
    n = len(times)
    return xr.Dataset(
        {
            "ext_grid_co2_average_t_per_mwh": (
                "time", np.broadcast_to(average, n).astype(float),
                {**CO2, "long_name": "average CO2 intensity"},
            ),
            "ext_grid_co2_marginal_t_per_mwh": (
                "time", np.broadcast_to(marginal, n).astype(float),
                {**CO2, "long_name": "marginal CO2 intensity"},
            ),
        },
        coords={"time": times},
    )


def to_nc(ds: xr.Dataset, path: Path) -> None:
    """NetCDF-3 (64-bit offset): a few hundred bytes where NetCDF-4/HDF5 takes 9 kB."""
    ds.to_netcdf(path, format="NETCDF3_64BIT")


def hours(n: int, start=START) -> pd.DatetimeIndex:
    return pd.date_range(start, periods=n, freq="h")


def feeder() -> pp.pandapowerNet:
    """110/20 kV, 4 buses: ext_grid at bus 0, trafo 0-1, lines 1-2 and 2-3, loads at 2 and 3,
    a 0.5 MW PV sgen at 3."""
    net = pp.create_empty_network(name="bad-input feeder")
    b = [pp.create_bus(net, 110.0, name="hv")] + [
        pp.create_bus(net, 20.0, name=f"mv{i}") for i in (1, 2, 3)
    ]
    pp.create_ext_grid(net, b[0], name="grid")
    pp.create_transformer(net, b[0], b[1], "25 MVA 110/20 kV", name="t1")
    pp.create_line(net, b[1], b[2], 1.0, "NA2XS2Y 1x95 RM/25 12/20 kV", name="l12")
    pp.create_line(net, b[2], b[3], 0.5, "NA2XS2Y 1x95 RM/25 12/20 kV", name="l23")
    pp.create_load(net, b[2], 1.0, 0.2, name="load2")
    pp.create_load(net, b[3], 0.8, 0.1, name="load3")
    pp.create_sgen(net, b[3], 0.5, name="pv3", type="PV")
    return net


def write_net(net: pp.pandapowerNet, path: Path) -> None:
    doc = json.loads(pp.to_json(net))
    kept = {}
    for key, value in doc["_object"].items():
        if key == "std_types":
            continue
        if isinstance(value, dict) and value.get("_class") == "DataFrame":
            if not json.loads(value["_object"])["data"]:
                continue
        kept[key] = value
    doc["_object"] = kept
    path.write_text(json.dumps(doc, indent=None))


# ---------------------------------------------------------------- networks


def _set(table: str, column: str, values):
    """A change that sets ``net[table][column]`` (one value or one per row)."""
    return lambda net: net[table].__setitem__(column, values)


def _no_impedance(net) -> None:
    net.line["r_ohm_per_km"] = 0.0
    net.line["x_ohm_per_km"] = 0.0


BREAKS = {
    "no_slack": lambda net: net.ext_grid.drop(net.ext_grid.index, inplace=True),
    "slack_out_of_service": _set("ext_grid", "in_service", False),
    "island": _set("line", "in_service", [True, False]),  # bus 3 (load3, pv3) cut off
    "line_max_i_zero": _set("line", "max_i_ka", [0.0, 0.322]),
    "line_max_i_nan": _set("line", "max_i_ka", [0.322, np.nan]),
    "line_negative_length": _set("line", "length_km", [1.0, -0.5]),
    "line_no_impedance": _no_impedance,
    "trafo_sn_zero": _set("trafo", "sn_mva", 0.0),
    "bus_vn_zero": _set("bus", "vn_kv", [110.0, 20.0, 0.0, 20.0]),
    "line_unknown_bus": _set("line", "to_bus", [2, 42]),
    "load_unknown_bus": _set("load", "bus", [2, 17]),
}
"""Broken variants of :func:`feeder`, by file name."""



def networks(folder: Path) -> None:
    write_net(feeder(), folder / "feeder.json")

    for name, change in BREAKS.items():
        net = feeder()
        change(net)
        write_net(net, folder / f"{name}.json")
    write_net(pp.create_empty_network(name="empty"), folder / "empty.json")
    (folder / "not_pandapower.json").write_text('{"grid": "feeder", "buses": [1, 2, 3]}\n')
    text = (folder / "feeder.json").read_text()
    (folder / "truncated.json").write_text(text[: len(text) // 2])
    (folder / "garbage.mat").write_bytes(b"MATLAB 5.0 MAT-file, but not really" + bytes(range(64)))
    (folder / "truncated.m").write_text(
        "function mpc = truncated\nmpc.version = '2';\nmpc.baseMVA = 100;\nmpc.bus = [\n\t1\t3\t0\t0;\n"
    )


# ---------------------------------------------------------------- series (NetCDF)


def load_series(times, values, *, loads=(0, 1), units="MW", dims=("time", "load")):
    values = np.asarray(values, dtype=float)
    coords = {"time": times}
    if "load" in dims:
        coords["load"] = list(loads)
    return xr.Dataset(
        {"load_p_mw": (dims, values, {"units": units, "long_name": "load active power",
                                       "cell_methods": "time: mean"})},
        coords=coords,
    )


def series(folder: Path) -> None:
    t24 = hours(24)
    to_nc(carbon(t24), folder / "carbon.nc")
    marginal = np.full(24, 0.5)
    marginal[3] = np.inf
    to_nc(carbon(t24, marginal=marginal), folder / "carbon_inf.nc")
    average = np.full(24, 0.4)
    average[5] = np.nan
    to_nc(carbon(t24, average=average), folder / "carbon_nan.nc")
    average = np.full(24, 0.4)
    average[2] = -0.1
    to_nc(carbon(t24, average=average), folder / "carbon_negative_average.nc")
    to_nc(carbon(hours(6)), folder / "carbon_6h.nc")
    to_nc(carbon(hours(25, START - pd.Timedelta("30min"))), folder / "carbon_misaligned.nc")
    to_nc(carbon(t24.delete(4)), folder / "carbon_gap.nc")
    no_units = carbon(t24)
    del no_units["ext_grid_co2_average_t_per_mwh"].attrs["units"]
    to_nc(no_units, folder / "carbon_no_units.nc")
    wrong_units = carbon(t24)
    wrong_units["ext_grid_co2_average_t_per_mwh"].attrs["units"] = "g/kWh"
    wrong_units["ext_grid_co2_average_t_per_mwh"][:] = 400.0
    to_nc(wrong_units, folder / "carbon_g_per_kwh.nc")
    no_time = carbon(t24).rename({"time": "hour"})
    to_nc(no_time, folder / "carbon_no_time.nc")
    to_nc(carbon(t24[[0, 1, 2, 2, 3, 4, 5]]), folder / "carbon_duplicate_time.nc")
    to_nc(carbon(t24[:0]), folder / "carbon_empty.nc")
    price = carbon(t24)
    price["ext_grid_price_per_mwh"] = ("time", np.full(24, 50.0), {"units": "EUR/MWh"})
    to_nc(price, folder / "carbon_with_price.nc")
    (folder / "not_netcdf.nc").write_text("time,co2\n2021-01-01,0.4\n")

    rows = np.tile([1.0, 0.8], (24, 1))
    nan = rows.copy()
    nan[2, 1] = np.nan
    to_nc(load_series(t24, nan), folder / "load_nan.nc")
    negative = rows.copy()
    negative[:, 1] = -0.3  # a prosumer feeding in: accepted
    to_nc(load_series(t24, negative), folder / "load_negative.nc")
    to_nc(load_series(t24, rows, loads=(0, 7)), folder / "load_unknown_element.nc")
    to_nc(load_series(t24, rows[:, 0], dims=("time",)), folder / "load_no_element_dim.nc")
    to_nc(load_series(t24, rows * 1000, units="kW"), folder / "load_kw.nc")
    text = xr.Dataset(
        {"load_p_mw": (("time", "load"), np.full((24, 2), "5 kW"), {"long_name": "load"})},
        coords={"time": t24, "load": [0, 1]},
    )
    to_nc(text, folder / "load_text.nc")
    sgen = xr.Dataset(
        {"sgen_p_max_mw": (("time", "sgen"), np.r_[np.full(5, 0.3), -0.2, np.full(18, 0.3)][:, None],
                           {"units": "MW", "long_name": "PV availability", "cell_methods": "time: mean"})},
        coords={"time": t24, "sgen": [0]},
    )
    to_nc(sgen, folder / "sgen_negative.nc")
    pu = xr.Dataset(
        {"pv_availability_pu": ("time", np.full(24, 0.5), {"units": "1", "long_name": "PV"})},
        coords={"time": t24},
    )
    to_nc(pu, folder / "pv_pu.nc")

    local_strings("2021-03-28 00:00", 6, folder / "carbon_dst_spring.nc")
    local_strings("2021-10-31 00:00", 6, folder / "carbon_dst_autumn_once.nc")
    naive = carbon(t24)
    naive = naive.assign_coords(time=("time", t24.strftime("%Y-%m-%d %H:%M").to_numpy(str)))
    to_nc(naive, folder / "carbon_naive_strings.nc")


def local_strings(first: str, n: int, path: Path) -> None:
    """Carbon signals on ``n`` consecutive Europe/Berlin wall-clock hour strings from ``first``,
    as a careless export writes them: every wall-clock hour once, so the hour that does not exist
    in spring is there and the hour that happens twice in autumn appears once."""
    wall = pd.date_range(first, periods=n, freq="h")
    ds = carbon(range(n))
    ds = ds.assign_coords(time=("time", wall.strftime("%Y-%m-%dT%H:%M").to_numpy(str),
                                {"timezone": "Europe/Berlin"}))
    to_nc(ds, path)


# ---------------------------------------------------------------- CSV (EIA-930 layout)


FUELS = ("WND", "SUN", "WAT", "OIL", "NG", "COL", "NUC", "OTH")


def eia_rows(n: int = 48) -> list[list[str]]:
    rng = np.random.default_rng(930)
    rows = []
    for t in hours(n):
        gen = rng.uniform(100, 1000, len(FUELS)).round(1)
        ci = float((gen * [11, 41, 24, 650, 490, 820, 12, 230]).sum() / gen.sum())
        rows.append([f"{t:%Y-%m-%d %H:%M:%S}+00:00", *map(str, gen), f"{ci:.3f}"])
    return rows


def write_csv(path: Path, header, rows) -> None:
    path.write_text("\n".join(",".join(r) for r in [list(header), *rows]) + "\n")


def csvs(folder: Path) -> None:
    header = ["timestamp", *FUELS, "avg_CI"]
    rows = eia_rows()
    text_cell = [r[:] for r in rows]
    text_cell[9][5] = "n/a MW"
    write_csv(folder / "eia930_text_cell.csv", header, text_cell)
    write_csv(folder / "eia930_missing_column.csv", [h for h in header if h != "COL"],
              [r[:6] + r[7:] for r in rows])
    dup = [r[:] for r in rows]
    dup[7][0] = dup[6][0]
    write_csv(folder / "eia930_duplicate_time.csv", header, dup)
    bad_time = [r[:] for r in rows]
    bad_time[11][0] = "2021-01-01 25:00:00+00:00"
    write_csv(folder / "eia930_bad_time.csv", header, bad_time)
    write_csv(folder / "eia930_header_only.csv", header, [])
    off_grid = [r[:] for r in rows]
    off_grid[20][0] = off_grid[20][0].replace(":00:00+", ":20:00+")
    write_csv(folder / "eia930_off_grid.csv", header, off_grid)
    mixed = [r[:] for r in rows]
    mixed[15][0] = mixed[15][0].removesuffix("+00:00")
    write_csv(folder / "eia930_mixed_offsets.csv", header, mixed)
    (folder / "eia930_binary.csv").write_bytes(bytes(range(256)) * 4)
    (folder / "eia930_not_gzip.csv.gz").write_text("timestamp,WND\n")

    # Local-time CSVs for the generic loader (open_csv_series, timezone Europe/Berlin).
    spring = pd.date_range("2021-03-28 00:00", periods=6, freq="h")  # 02:00 does not exist
    write_csv(folder / "local_spring_gap_hour.csv", ["time", "load_kw"],
              [[f"{t:%Y-%m-%d %H:%M}", "10"] for t in spring])
    autumn = ["2021-10-31 00:00", "2021-10-31 01:00", "2021-10-31 02:00", "2021-10-31 03:00"]
    write_csv(folder / "local_autumn_once.csv", ["time", "load_kw"], [[t, "10"] for t in autumn])


# ---------------------------------------------------------------- EV sessions


def acn_item(i: int, arrival: str, departure: str, kwh=5.0, **extra) -> dict:
    item = {
        "sessionID": f"s{i}",
        "stationID": "CA-1",
        "spaceID": f"P{i}",
        "connectionTime": arrival,
        "disconnectTime": departure,
        "doneChargingTime": None,
        "kWhDelivered": kwh,
        "userInputs": None,
        "timezone": "America/Los_Angeles",
    }
    item.update(extra)
    return item


def write_acn(path: Path, items) -> None:
    path.write_text(json.dumps({"_meta": {"site": "test"}, "_items": items}, indent=1))


def sessions_nc(path: Path, energy_mwh, p_max_mw, arrival, departure, bus=(2, 3), drop=()) -> None:
    ds = xr.Dataset(
        {
            "ev_bus": ("session", np.asarray(bus)),
            "ev_arrival_time": ("session", pd.DatetimeIndex(arrival).values),
            "ev_departure_time": ("session", pd.DatetimeIndex(departure).values),
            "ev_energy_mwh": ("session", np.asarray(energy_mwh, float), {"units": "MWh"}),
            "ev_p_max_mw": ("session", np.asarray(p_max_mw, float), {"units": "MW"}),
        },
        coords={"session": ["car-a", "car-b"]},
    )
    to_nc(ds.drop_vars(list(drop)), path)


def sessions(folder: Path) -> None:
    ok = [acn_item(1, "Fri, 01 Jan 2021 01:00:00 GMT", "Fri, 01 Jan 2021 04:00:00 GMT")]
    write_acn(folder / "acn_depart_before_arrive.json",
              ok + [acn_item(2, "Fri, 01 Jan 2021 03:00:00 GMT", "Fri, 01 Jan 2021 02:00:00 GMT")])
    write_acn(folder / "acn_negative_energy.json",
              ok + [acn_item(2, "Fri, 01 Jan 2021 01:00:00 GMT", "Fri, 01 Jan 2021 03:00:00 GMT",
                             kwh=-4.0)])
    write_acn(folder / "acn_energy_text.json",
              ok + [acn_item(2, "Fri, 01 Jan 2021 01:00:00 GMT", "Fri, 01 Jan 2021 03:00:00 GMT",
                             kwh="7 kWh")])
    write_acn(folder / "acn_bad_time.json",
              ok + [acn_item(2, "2021-01-01T01:00:00Z", "Fri, 01 Jan 2021 03:00:00 GMT")])
    missing = acn_item(2, "Fri, 01 Jan 2021 01:00:00 GMT", "Fri, 01 Jan 2021 03:00:00 GMT")
    del missing["disconnectTime"]
    write_acn(folder / "acn_missing_field.json", ok + [missing])
    write_acn(folder / "acn_duplicate_id.json", ok + ok)
    (folder / "acn_no_items.json").write_text(json.dumps({"_meta": {}, "items": []}))
    (folder / "acn_not_json.json").write_text("sessionID,connectionTime\ns1,today\n")
    with gzip.open(folder / "acn_ok.json.gz", "wt") as fh:
        json.dump({"_meta": {"site": "test"}, "_items": ok}, fh)

    arrive = ["2021-01-01 01:00", "2021-01-01 01:00"]
    leave = ["2021-01-01 03:00", "2021-01-01 05:00"]
    # car-b: 0.5 MWh in 4 h at 0.011 MW can get at most 0.044 MWh
    sessions_nc(folder / "sessions_too_much_energy.nc", [0.01, 0.5], [0.011, 0.011], arrive, leave)
    sessions_nc(folder / "sessions_depart_before.nc", [0.01, 0.01], [0.011, 0.011], arrive,
                ["2021-01-01 03:00", "2021-01-01 00:30"])
    sessions_nc(folder / "sessions_zero_power.nc", [0.01, 0.01], [0.011, 0.0], arrive, leave)
    sessions_nc(folder / "sessions_unknown_bus.nc", [0.01, 0.01], [0.011, 0.011], arrive, leave,
                bus=(2, 99))
    sessions_nc(folder / "sessions_missing_p_max.nc", [0.01, 0.01], [0.011, 0.011], arrive, leave,
                drop=["ev_p_max_mw"])


def main() -> None:
    for name, make in (("network", networks), ("series", series), ("series", csvs),
                       ("ev", sessions)):
        folder = HERE / name
        folder.mkdir(exist_ok=True)
        make(folder)


if __name__ == "__main__":
    main()
