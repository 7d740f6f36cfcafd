"""The app's figure builders, data layer and layouts on real runs, without a browser.

The runs come from the real CLI (``tests/_app_store.py``); every check compares what a figure
draws with the run's own dataset or key figures, which a person can re-read with
``gridopt runs export``.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from gridopt.app import figures
from gridopt.app.data import AppData, downsample, kpis
from gridopt.app.layout import Route, fmt, page
from gridopt.environment import CHINA_CATEGORIES
from gridopt.errors import DataError
from gridopt.store import Store


@pytest.fixture(scope="module")
def default(runs):
    return runs[0].open(runs[1]["default"])


@pytest.fixture(scope="module")
def beijing(runs):
    return runs[0].open(runs[1]["beijing"])


def trace(fig, name):
    return next(t for t in fig.data if t.name == name)


def test_co2_trend_is_grid_import_plus_local_co2_and_sums_to_the_kpi(default):
    fig = figures.co2_trend(default)
    local = default["emissions_t"].sel(pollutant="co2", source="local")
    marginal = trace(fig, "marginal grid signal + local").y
    np.testing.assert_array_equal(marginal, (default["grid_co2_marginal_t"] + local).values)
    assert float(default["grid_co2_marginal_t"][0] + local[0]) == marginal[0]
    assert marginal.sum() * default.attrs["time_step_h"] == pytest.approx(
        default.attrs["kpi_co2_marginal_t"], rel=1e-9)
    average = trace(fig, "average grid signal + local").y
    assert average.sum() == pytest.approx(default.attrs["kpi_co2_average_t"], rel=1e-9)


def test_intensity_in_g_per_kwh(default, beijing):
    fig = figures.intensity(default, ["ext_grid_co2_marginal_t_per_mwh"])
    np.testing.assert_allclose(fig.data[0].y, default["ext_grid_co2_marginal_t_per_mwh"].values * 1000)
    # Beijing's model uses the official 2022 average factor, 0.558 t/MWh, for both signals.
    fig = figures.intensity(beijing, ["ext_grid_co2_marginal_t_per_mwh", "ext_grid_co2_average_t_per_mwh"])
    assert [t.name for t in fig.data] == ["marginal", "average"]
    np.testing.assert_allclose(np.concatenate([t.y for t in fig.data]), 558.0)


def test_emissions_by_source_bars_are_the_run_totals(default):
    fig = figures.emissions_by_source(default)
    totals = default["emissions_t"].sum("time")
    co2 = fig.data[0]
    assert list(co2.x) == ["local", "grid_import"]
    np.testing.assert_allclose(co2.y, totals.sel(pollutant="co2").values)
    assert sum(co2.y) == pytest.approx(default.attrs["kpi_co2_marginal_t"], rel=1e-9)
    nox = fig.data[1]
    assert nox.y[0] == pytest.approx(default.attrs["kpi_nox_t"], rel=1e-9)


def test_dispatch_stack_energies_match_the_kpis(default):
    fig = figures.dispatch_stack(default)
    dt = default.attrs["time_step_h"]
    np.testing.assert_array_equal(trace(fig, "renewable").y, default["sgen_p_mw"].sum("sgen").values)
    assert trace(fig, "renewable").y.sum() * dt == pytest.approx(default.attrs["kpi_renewable_mwh"])
    assert -trace(fig, "EV charging").y.sum() * dt == pytest.approx(
        default.attrs["kpi_ev_energy_served_mwh"])
    assert trace(fig, "grid import").y.sum() * dt == pytest.approx(default.attrs["kpi_import_mwh"])
    assert -trace(fig, "export").y.sum() * dt == pytest.approx(default.attrs["kpi_export_mwh"])
    np.testing.assert_array_equal(-trace(fig, "battery charge").y,
                                  default["storage_charge_mw"].sum("storage").values)
    assert {t.stackgroup for t in fig.data} == {"supply", "demand"}


def test_dispatch_stack_of_a_dayahead_run_with_ev_charging_per_bus(runs):
    dayahead = runs[0].open(runs[1]["urban_mvlv"])
    assert dayahead.sizes["time"] == 48 and dayahead["ev_p_mw"].dims == ("time", "ev_bus")
    fig = figures.dispatch_stack(dayahead)
    np.testing.assert_allclose(-trace(fig, "EV charging").y, dayahead["ev_p_mw"].sum("ev_bus").values)
    assert -trace(fig, "EV charging").y.sum() == pytest.approx(dayahead.attrs["kpi_ev_energy_served_mwh"])


def test_ev_by_bus_sums_the_sessions_of_each_bus(default):
    fig = figures.ev_by_bus(default)
    buses = sorted(set(default["ev_bus"].values.tolist()))
    assert [t.name for t in fig.data] == [f"bus {b}" for b in buses]
    at_bus = default["ev_p_mw"].where(default["ev_bus"] == buses[0]).sum("session")
    np.testing.assert_allclose(fig.data[0].y, at_bus.values)
    np.testing.assert_allclose(np.sum([t.y for t in fig.data], axis=0),
                               default["ev_p_mw"].sum("session").values)


def test_ev_by_bus_of_a_dayahead_run_is_its_per_bus_power(runs):
    dayahead = runs[0].open(runs[1]["urban_mvlv"])
    fig = figures.ev_by_bus(dayahead)
    assert [t.name for t in fig.data] == [f"bus {b}" for b in dayahead["ev_bus"].values.tolist()]
    for k, t in enumerate(fig.data):
        np.testing.assert_array_equal(t.y, dayahead["ev_p_mw"].isel(ev_bus=k).values)


def test_storage_soc_one_line_per_battery(default):
    fig = figures.storage_soc(default)
    assert len(fig.data) == default.sizes["storage"]
    for k, t in enumerate(fig.data):
        np.testing.assert_array_equal(t.y, default["storage_soc_mwh"].isel(storage=k).values)


def test_aqi_by_station_on_the_china_category_colours(beijing):
    fig = figures.aqi(beijing, "aqi_china")
    aqi = beijing["aqi_china"]
    assert [t.name for t in fig.data] == [str(s) for s in aqi["station"].values]
    for t, station in zip(fig.data, aqi["station"].values, strict=True):
        np.testing.assert_array_equal(t.y, aqi.sel(station=station).values)
    top = float(np.nanmax(aqi.values))
    drawn = [c for c in CHINA_CATEGORIES if c.low < max(top, 100) * 1.05]
    assert [s.fillcolor for s in fig.layout.shapes] == [c.color for c in drawn]
    assert fig.layout.shapes[0].y0 == 0 and fig.layout.shapes[1].y0 == 51  # "Good" from 51


def test_violating_elements_read_the_ac_check_lines():
    ds = xr.Dataset(attrs={"ac_violations": "\n".join([
        "bus 12 (MV1.101 Bus 12) undervoltage 0.938 pu < 0.95 at 2016-06-06 18:00 UTC, by 0.012 pu",
        "line 3 overload 104.2 % > 100 at 2016-06-06 19:00 UTC, by 4.2 %",
        "trafo 0 (HV-MV) overload 101.0 % > 100 at 2016-06-06 19:00 UTC, by 1.0 %",
    ])})
    assert figures.violating_elements(ds) == ({12}, {"line:3", "trafo:0"})
    solve = xr.Dataset(attrs={"explanation": "bus 107 (LV5.303 Bus 111) above its voltage limit "
                                             "1.010 pu by 0.0130 pu at 2016-01-04 03:00 UTC\n"
                                             "session ev00012 short of its energy by 0.5 MWh"})
    assert figures.violating_elements(solve) == ({107}, set())
    assert figures.violating_elements(xr.Dataset()) == (set(), set())


def test_network_strips_show_extremes_and_mark_violations(default):
    marked = default.assign_attrs(ac_violations="bus 5 undervoltage 0.9 pu < 0.95 at x, by 0.05 pu\n"
                                                "line 2 overload 120.0 % > 100 at x, by 20.0 %")
    fig = figures.network_strips(marked)
    vm = default["ac_bus_vm_pu"]
    buses, loading = fig.data
    np.testing.assert_array_equal(buses.y, vm.min("time").values)
    np.testing.assert_allclose(buses.y + buses.error_y.array, vm.max("time").values)
    assert buses.marker.color[5] == figures.VIOLATION_COLOR
    assert buses.marker.color[4] != figures.VIOLATION_COLOR
    highest = default["ac_branch_loading_percent"].max("time")
    assert len(loading.x) == default.sizes["branch"]
    for label, value in zip(loading.x, loading.y, strict=True):
        assert value == float(highest.sel(branch=label))
    assert list(loading.x[:3]) == ["line:0", "line:1", "line:2"]  # by table, then index number
    assert loading.marker.color[list(loading.x).index("line:2")] == figures.VIOLATION_COLOR


def test_tree_layout_by_hand():
    # 0 - 1, 1 - 2, 1 - 3 (a fork), and 4 - 5 apart from them.
    pos = figures.tree_layout([0, 1, 2, 3, 4, 5], [(0, 1), (1, 2), (1, 3), (4, 5)])
    assert pos == {2: (2.0, 0.0), 3: (2.0, 1.0), 1: (1.0, 0.5), 0: (0.0, 0.5),
                   5: (1.0, 2.0), 4: (0.0, 2.0)}
    # A ring draws its breadth-first spanning tree: every bus placed once.
    ring = figures.tree_layout([0, 1, 2, 3], [(0, 1), (1, 2), (2, 3), (3, 0)])
    assert ring[0] == (0.0, 0.5) and ring[2] == (2.0, 0.0) and len(ring) == 4


def test_network_graph_draws_each_branch_between_its_end_buses(default):
    pytest.importorskip("pandapower")
    from gridopt.network import load_network

    net = load_network("simbench:1-MV-urban--0-sw")
    ends = {"line": ("from_bus", "to_bus"), "trafo": ("hv_bus", "lv_bus")}
    labels = [str(b) for b in default["branch"].values]
    frm, to = zip(*[(int(net[t].at[int(i), ends[t][0]]), int(net[t].at[int(i), ends[t][1]]))
                    for t, i in (label.split(":") for label in labels)], strict=True)
    ds = default.assign(branch_from_bus=("branch", np.array(frm)), branch_to_bus=("branch", np.array(to)))
    fig = figures.network_graph(ds)
    pos = figures.tree_layout([int(b) for b in ds["bus"].values], list(zip(frm, to, strict=True)))
    segments = set()
    for t in fig.data[:-1]:
        xs, ys = list(t.x), list(t.y)
        segments |= {((xs[k], ys[k]), (xs[k + 1], ys[k + 1])) for k in range(0, len(xs), 3)}
    assert segments == {(pos[a], pos[b]) for a, b in zip(frm, to, strict=True)}
    nodes = fig.data[-1]
    np.testing.assert_array_equal(nodes.marker.color, ds["ac_bus_vm_pu"].min("time").values)


def test_compare_overlay_on_hours_from_start(default, beijing):
    fig = figures.compare_overlay(default, beijing, "a", "b")
    first, second = fig.data[0], fig.data[1]
    assert first.x[0] == 0 and first.x[-1] == default.sizes["time"] - 1
    np.testing.assert_array_equal(first.y, default["ext_grid_import_mw"].sum("ext_grid").values)
    np.testing.assert_array_equal(second.y, beijing["ext_grid_import_mw"].sum("ext_grid").values)
    co2 = [t for t in fig.data if t.yaxis == "y2"]
    assert co2[1].y.sum() == pytest.approx(beijing.attrs["kpi_co2_marginal_t"], rel=1e-9)


def test_downsample_takes_block_means_that_keep_energy(default):
    small = downsample(default, max_points=5)  # 24 h: 4 blocks of 6 h
    assert small.attrs["plot_step_h"] == 6.0 and small.sizes["time"] == 4
    sgen = default["sgen_p_mw"].values
    np.testing.assert_allclose(small["sgen_p_mw"].values, sgen.reshape(4, 6, -1).mean(axis=1))
    assert float(small["sgen_p_mw"].sum()) * 6 == pytest.approx(float(default["sgen_p_mw"].sum()))
    np.testing.assert_array_equal(small["ev_bus"].values, default["ev_bus"].values)
    assert "(6 h means)" in figures.dispatch_stack(small).layout.title.text
    assert downsample(default).sizes["time"] == 24


def test_app_data_caches_by_file_and_exports_csv(runs, tmp_path):
    source, ids = runs
    store = Store(tmp_path / "store")
    results = source.open(ids["default"])
    store.save(results, model="default", run_id="r1")
    data = AppData(store)
    first = data.dataset("r1")
    assert data.dataset("r1") is first
    store.save(results.assign_attrs(kpi_cost_total=1.0), model="default", run_id="r1", overwrite=True)
    assert data.dataset("r1").attrs["kpi_cost_total"] == 1.0  # rewritten run read again
    lines = data.export_csv("r1", "storage_soc_mwh").decode().splitlines()
    assert lines[0] == "time,storage,storage_soc_mwh"
    assert float(lines[1].split(",")[2]) == pytest.approx(float(results["storage_soc_mwh"][0, 0]))
    with pytest.raises(DataError, match="must be 1-80 characters"):
        data.dataset("../r1")


def test_every_page_builds_and_damage_is_a_data_error(runs):
    store, ids = runs
    data = AppData(store)
    for name in ("overview", "carbon", "air-quality", "ev-storage", "network", "compare", "runs",
                 "export"):
        assert page(data, Route(name, ids["beijing"], ids["default"]))
        assert page(data, Route(name, ids["urban_mvlv"], ids["caltech"]))
    for role in ("corrupt", "missing"):
        with pytest.raises(DataError, match=f"run {ids[role]}: results file is missing"):
            page(data, Route("carbon", ids[role]))
    assert "There is no such page" in str(page(data, Route(None, ids["default"])))


def test_overview_cards_print_the_kpis(default, runs):
    data = AppData(runs[0])
    text = str(page(data, Route("overview", runs[1]["default"])))
    figs = kpis(default)
    assert fmt(figs["co2_marginal_avoided_t"]) in text
    assert f"{fmt(figs['renewable_share'] * 100)} %" in text
    assert f"avoided {fmt(figs['cost_avoided'])} EUR" in text


def test_fmt_and_route_by_hand():
    assert fmt(2.3385396124447766) == "2.339"
    assert fmt(41530.576) == "41,531"
    assert fmt(-1.2e-17) == "0" and fmt(None) == "–" and fmt(float("nan")) == "–"
    assert Route.parse("/", "") == Route("overview")
    assert Route.parse("/carbon", "?run=a&other=b") == Route("carbon", "a", "b")
    assert Route.parse("/../etc/passwd", "").page is None
    assert Route("network", "a b").href("carbon") == "/carbon?run=a+b"
