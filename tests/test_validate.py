"""AC check of a dispatch: ac_check against pandapower's own runpp, step by step, on real grids.

The reference (``_runpp_reference``) is written here independently of gridopt.validate: it puts the
setpoints on the elements of a copy of the net the obvious way (loads, sgens, storage, gens, one
extra load per EV bus, shedding split over a bus's loads by their P) and calls ``pp.runpp`` for
each step. ``ac_check`` must match it to 1e-6 pu (voltage), 1e-4 MW (losses, external grid P)
and 1e-3 % (loading).
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pandapower as pp
import pandapower.networks as pn
import pytest
import simbench
import xarray as xr

from gridopt.errors import ConfigError, DataError
from gridopt.io.simbench import open_simbench_profiles
from gridopt.validate import ViolationKind, ac_check, ac_violations, linear_error, violation_lines

STEPS = 24
TIMES = pd.date_range("2016-06-06 00:00", periods=STEPS, freq="h")
DAY = 0.55 + 0.45 * np.sin(np.pi * np.arange(STEPS) / STEPS)  # load factor, 0.55 at night to 1.0
SUN = np.sin(np.pi * (np.arange(STEPS) - 6) / 12).clip(0)  # PV factor, 0 at night


# --------------------------------------------------------------------------- building cases


def series_of(net, load_factor, times=TIMES) -> xr.Dataset:
    """load_p_mw / load_q_mvar: the net's demand (p × scaling) times a factor per step."""
    scale = net.load["scaling"].to_numpy()
    p = np.outer(load_factor, net.load["p_mw"].to_numpy() * scale)
    q = np.outer(load_factor, net.load["q_mvar"].to_numpy() * scale)
    return xr.Dataset(
        {"load_p_mw": (("time", "load"), p), "load_q_mvar": (("time", "load"), q)},
        coords={"time": times, "load": net.load.index.to_numpy()},
    )


def results_of(net, times=TIMES, *, sgen=None, gen=None, charge=None, discharge=None,
               **extra) -> xr.Dataset:
    """A results-like dataset; unspecified decisions are 0 (sgen: rated p_mw × SUN)."""
    n = len(times)

    def var(table, values):
        return (("time", table), np.zeros((n, len(net[table]))) if values is None else values)

    if sgen is None:
        sgen = np.outer(SUN[:n], net.sgen["p_mw"].to_numpy())
    ds = xr.Dataset(
        {"sgen_p_mw": var("sgen", sgen),
         "gen_p_mw": var("gen", gen),
         "storage_charge_mw": var("storage", charge),
         "storage_discharge_mw": var("storage", discharge)},
        coords={"time": times, "sgen": net.sgen.index.to_numpy(), "gen": net.gen.index.to_numpy(),
                "storage": net.storage.index.to_numpy()},
    )
    for name, data in extra.items():
        ds[name] = data
    return ds


def bus_var(net, times, values: dict[int, np.ndarray]) -> xr.DataArray:
    """A (time, bus) variable with the given columns and zero elsewhere."""
    data = np.zeros((len(times), len(net.bus)))
    for bus, column in values.items():
        data[:, net.bus.index.get_loc(bus)] = column
    coords = {"time": times, "bus": net.bus.index.to_numpy()}
    return xr.DataArray(data, dims=("time", "bus"), coords=coords)


def _runpp_reference(net, series: xr.Dataset, results: xr.Dataset) -> dict[str, np.ndarray]:
    """pp.runpp per step on element setpoints; NaN for steps that do not converge."""
    work = copy.deepcopy(net)
    for table in ("load", "sgen", "storage", "gen"):
        work[table]["scaling"] = 1.0
    ev = results["ev_bus_p_mw"] if "ev_bus_p_mw" in results else None
    shed = results["load_shed_mw"] if "load_shed_mw" in results else None
    ev_loads = {}
    if ev is not None:
        for bus in ev["bus"].values[(ev.values != 0).any(axis=0)]:
            ev_loads[bus] = pp.create_load(work, bus=int(bus), p_mw=0.0)
    out = {k: [] for k in ("vm", "va", "loading", "losses", "ext", "p_from")}
    for t, when in enumerate(results.indexes["time"]):
        p = series["load_p_mw"].sel(time=when).to_series()
        q = series["load_q_mvar"].sel(time=when).to_series()
        if shed is not None:
            for bus, mw in shed.sel(time=when).to_series().items():
                at_bus = net.load.index[net.load["bus"] == bus]
                if mw:
                    keep = 1 - mw / p.loc[at_bus].sum()
                    p.loc[at_bus] *= keep
                    q.loc[at_bus] *= keep
        work.load.loc[p.index, "p_mw"] = p
        work.load.loc[q.index, "q_mvar"] = q
        for bus, row in ev_loads.items():
            work.load.at[row, "p_mw"] = float(ev.sel(time=when, bus=bus))
        for table, value in (("sgen", "sgen_p_mw"), ("gen", "gen_p_mw"), ("storage", None)):
            if value is None and "storage_charge_mw" in results:
                stor = results["storage_charge_mw"] - results["storage_discharge_mw"]
                work.storage["p_mw"] = stor.sel(time=when).to_series().reindex(net.storage.index)
            elif value in results:
                values = results[value].sel(time=when).to_series()
                work[table]["p_mw"] = values.reindex(net[table].index)
        try:
            pp.runpp(work, numba=False)
            ok = True
        except pp.LoadflowNotConverged:
            ok = False
        nan = np.nan if not ok else 1.0
        out["vm"].append(work.res_bus["vm_pu"].to_numpy() * nan)
        out["va"].append(work.res_bus["va_degree"].to_numpy() * nan)
        line, trafo = work.res_line, work.res_trafo
        loading = np.concatenate([line["loading_percent"], trafo["loading_percent"]])
        out["loading"].append(loading * nan)
        out["p_from"].append(np.concatenate([line["p_from_mw"], trafo["p_hv_mw"]]) * nan)
        out["losses"].append((work.res_line["pl_mw"].sum() + work.res_trafo["pl_mw"].sum()) * nan)
        out["ext"].append(work.res_ext_grid["p_mw"].to_numpy() * nan)
    return {k: np.array(v) for k, v in out.items()}


def assert_matches_runpp(net, ac: xr.Dataset, ref: dict[str, np.ndarray]) -> None:
    in_service = np.concatenate([net.line["in_service"], net.trafo["in_service"]]).astype(bool)
    np.testing.assert_allclose(ac["ac_bus_vm_pu"].values, ref["vm"], atol=1e-6, rtol=0)
    np.testing.assert_allclose(ac["ac_bus_va_degree"].values, ref["va"], atol=1e-4, rtol=0)
    np.testing.assert_allclose(ac["ac_losses_mw"].values, ref["losses"], atol=1e-4, rtol=0)
    np.testing.assert_allclose(ac["ac_ext_grid_p_mw"].values, ref["ext"], atol=1e-4, rtol=0)
    np.testing.assert_allclose(ac["ac_branch_loading_percent"].values[:, in_service],
                               ref["loading"][:, in_service], atol=1e-3, rtol=0)
    np.testing.assert_allclose(ac["ac_branch_p_from_mw"].values[:, in_service],
                               ref["p_from"][:, in_service], atol=1e-4, rtol=0)
    assert np.isnan(ac["ac_branch_loading_percent"].values[:, ~in_service]).all()


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def oberrhein():
    net = pn.mv_oberrhein()
    return net, series_of(net, DAY), results_of(net)


@pytest.fixture(scope="module")
def cigre():
    """CIGRE MV with PV, wind, fuel cells and two batteries; EV charging at two buses and
    shedding at bus 1, whose two loads share it."""
    net = pn.create_cigre_network_mv(with_der="all")
    hours = np.arange(STEPS)
    ev = bus_var(net, TIMES, {5: 0.3 * (hours >= 17), 12: np.full(STEPS, 0.15)})
    shed = bus_var(net, TIMES, {1: 2.0 * (hours == 19)})
    charge = np.outer(SUN, [0.5, 0.2])
    discharge = np.outer((hours >= 18) * (hours <= 21), [0.4, 0.1])
    res = results_of(net, charge=charge, discharge=discharge, ev_bus_p_mw=ev, load_shed_mw=shed)
    return net, series_of(net, DAY), res


@pytest.fixture(scope="module")
def case33():
    net = pn.case33bw()
    factor = DAY.copy()
    factor[18] = 1.3  # heavy evening step: the far end drops below the net's 0.9 pu limit
    return net, series_of(net, factor), results_of(net)


@pytest.fixture(scope="module")
def simbench_mv():
    """SimBench 1-MV-urban--0-sw with its own 2016 profiles, 24 quarter-hours."""
    net = simbench.get_simbench_net("1-MV-urban--0-sw")
    net.name = "simbench:1-MV-urban--0-sw"
    series = open_simbench_profiles(net, start="2016-06-06 06:00", end="2016-06-06 11:45")
    res = xr.Dataset({"sgen_p_mw": series["sgen_p_max_mw"].rename(None)})
    return net, series, res


# --------------------------------------------------------------------------- equal to runpp


@pytest.mark.parametrize("case", ["oberrhein", "cigre", "case33", "simbench_mv"])
def test_ac_check_equals_runpp_step_by_step(case, request):
    net, series, res = request.getfixturevalue(case)
    ac = ac_check(net, series, res)
    assert ac.attrs["ac_backend"] == "lightsim2grid", ac.attrs["ac_backend_note"]
    assert ac["ac_converged"].all() and (ac["ac_failure"] == "").all()
    assert_matches_runpp(net, ac, _runpp_reference(net, series, res))


def test_generator_setpoints_and_voltage_control_match_runpp():
    """example_simple: a voltage-controlled generator, a shunt, bus-bus switches, an open line
    switch; the external grid's angle set to 10° (angles are referenced to it)."""
    net = pn.example_simple()
    net.ext_grid.at[0, "va_degree"] = 10.0
    times = TIMES[:6]
    gen = np.linspace(2.0, 7.0, 6)[:, None]
    res = results_of(net, times, sgen=np.full((6, 1), 1.5), gen=gen)
    series = series_of(net, DAY[:6], times)
    ac = ac_check(net, series, res)
    assert ac.attrs["ac_backend"] == "lightsim2grid", ac.attrs["ac_backend_note"]
    assert_matches_runpp(net, ac, _runpp_reference(net, series, res))
    gen_bus = net.gen.at[0, "bus"]
    held = ac["ac_bus_vm_pu"].sel(bus=gen_bus)
    np.testing.assert_allclose(held, net.gen.at[0, "vm_pu"], atol=1e-9)


def test_pandapower_backend_matches_runpp_too(cigre):
    net, series, res = cigre
    first = res.isel(time=slice(16, 22))  # EV, shedding and battery discharge all happen here
    ac = ac_check(net, series, first, backend="pandapower")
    assert ac.attrs["ac_backend"] == "pandapower"
    assert_matches_runpp(net, ac, _runpp_reference(net, series, first))


def test_ev_storage_and_shedding_move_the_import_as_stated(cigre):
    """At 19:00 bus 5 draws 0.3 MW of EV charging, batteries discharge 0.5 MW and 2 MW of load
    is shed at bus 1: the external grid supplies those changes (plus a loss difference)."""
    net, series, res = cigre
    at = res.isel(time=[19])
    base = at.copy()
    base["ev_bus_p_mw"] = base["ev_bus_p_mw"] * 0
    base["load_shed_mw"] = base["load_shed_mw"] * 0
    base["storage_discharge_mw"] = base["storage_discharge_mw"] * 0
    with_all = float(ac_check(net, series, at)["ac_ext_grid_p_mw"].sum())
    without = float(ac_check(net, series, base)["ac_ext_grid_p_mw"].sum())
    ev_mw, shed_mw, discharge_mw = 0.3 + 0.15, 2.0, 0.4 + 0.1
    assert with_all - without == pytest.approx(ev_mw - shed_mw - discharge_mw, abs=0.05)


def test_ev_charging_per_session_or_per_ev_bus_is_placed_at_its_bus(cigre):
    """The optimizer reports EV charging per session (with ev_bus) or per ev_bus: both give the
    same AC state as the per-bus form."""
    net, series, res = cigre
    at = res.isel(time=slice(17, 20))
    per_bus = at["ev_bus_p_mw"].sel(bus=[5, 12])
    half = (per_bus.sel(bus=5) / 2).values
    sessions = xr.Dataset(
        {"ev_p_mw": (("time", "session"), np.column_stack([half, half, per_bus.sel(bus=12)])),
         "ev_bus": (("session",), [5, 5, 12])},
        coords={"time": at["time"], "session": ["a", "b", "c"]})
    by_session = at.drop_vars("ev_bus_p_mw").merge(sessions)
    by_ev_bus = at.drop_vars("ev_bus_p_mw").assign(ev_p_mw=per_bus.rename(bus="ev_bus"))
    expected = ac_check(net, series, at)["ac_bus_vm_pu"]
    for form in (by_session, by_ev_bus):
        got = ac_check(net, series, form)["ac_bus_vm_pu"]
        np.testing.assert_allclose(got, expected, atol=1e-12)
    assert float(abs(ac_check(net, series, at.drop_vars("ev_bus_p_mw"))["ac_bus_vm_pu"]
                     - expected).max()) > 1e-4  # and EV charging does show in the voltages


# --------------------------------------------------------------------------- failures


def test_a_step_that_does_not_converge_is_recorded_and_the_others_go_on(oberrhein):
    net, series, res = oberrhein
    heavy = series.copy(deep=True)
    heavy["load_p_mw"][5] *= 50
    heavy["load_q_mvar"][5] *= 50
    ac = ac_check(net, heavy, res)
    assert ac.attrs["ac_backend"] == "lightsim2grid"
    assert not bool(ac["ac_converged"][5])
    assert "converge" in str(ac["ac_failure"][5].values)
    assert np.isnan(ac["ac_bus_vm_pu"][5]).all() and np.isnan(ac["ac_losses_mw"][5])
    others = np.delete(np.arange(STEPS), 5)
    assert ac["ac_converged"][others].all()
    ref = _runpp_reference(net, heavy, res)
    assert np.isnan(ref["vm"][5]).all()  # runpp fails there too
    vm = ac["ac_bus_vm_pu"].values
    np.testing.assert_allclose(vm[others], ref["vm"][others], atol=1e-6, rtol=0)

    slow = ac_check(net, heavy.isel(time=[4, 5, 6]), res.isel(time=[4, 5, 6]), backend="pandapower")
    assert slow["ac_converged"].values.tolist() == [True, False, True]
    assert "did not converge" in str(slow["ac_failure"][1].values)


def test_the_callers_net_is_left_unchanged(cigre):
    net, series, res = cigre
    before = copy.deepcopy(net)
    ac_check(net, series, res.isel(time=slice(17, 20)))
    ac_check(net, series, res.isel(time=slice(17, 20)), backend="pandapower")
    assert pp.toolbox.nets_equal(net, before)
    assert "EV charging" not in set(net.load["name"].dropna())


def test_bad_inputs_raise_one_line_errors(case33):
    net, series, res = case33
    later = res.assign_coords(time=res.indexes["time"] + pd.Timedelta("1D"))
    with pytest.raises(DataError, match="series has no step at 2016-06-07 00:00:00"):
        ac_check(net, series, later)
    # bus 17 of case33bw draws 0.09 MW at full load; at 00:00 the day factor is 0.55
    shed = res.assign(load_shed_mw=bus_var(net, TIMES, {17: np.full(STEPS, 5.0)}))
    with pytest.raises(DataError, match=r"'load_shed_mw' at bus 17, 2016-06-06 00:00:00 UTC "
                                        r"must lie in \[0, 0.0495\] MW"):
        ac_check(net, series, shed)
    bad = series.copy(deep=True)
    bad["load_p_mw"][3, 7] = np.nan
    with pytest.raises(DataError, match="'load_p_mw' must be finite .*load 7 at 2016-06-06 03:00"):
        ac_check(net, bad, res)
    with pytest.raises(ConfigError, match="backend must be one of"):
        ac_check(net, series, res, backend="matpower")


def test_missing_sgen_dispatch_is_named(oberrhein):
    net, series, res = oberrhein
    with pytest.raises(DataError, match="results has no variable 'sgen_p_mw' .*sgen in service"):
        ac_check(net, series, res.drop_vars("sgen_p_mw"))
    partial = res.drop_sel(sgen=net.sgen.index[3])
    with pytest.raises(DataError, match=f"'sgen_p_mw' has no sgen {net.sgen.index[3]}"):
        ac_check(net, series, partial)


# --------------------------------------------------------------------------- violations


def test_forced_undervoltage_is_reported_with_bus_time_and_amount(case33):
    net, series, res = case33
    ac = ac_check(net, series, res)
    found = ac_violations(net, ac)
    assert found, "the 1.3x evening step must break the 0.9 pu limit of case33bw"
    assert {v.kind for v in found} == {ViolationKind.UNDERVOLTAGE}
    assert {v.time for v in found} == {pd.Timestamp("2016-06-06 18:00")}
    worst = min(found, key=lambda v: v.value)
    vm = ac["ac_bus_vm_pu"].sel(time="2016-06-06 18:00")
    assert worst.element == f"bus:{int(vm.idxmin())}"
    assert worst.value == pytest.approx(float(vm.min()))
    assert worst.limit == 0.9 and worst.amount == pytest.approx(0.9 - float(vm.min()))
    bus = worst.element.split(":")[1]
    line = violation_lines([worst])[0]
    assert line == (f"bus {bus} ({bus}) undervoltage {worst.value:.3f} pu < 0.9 "
                    f"at 2016-06-06 18:00 UTC, by {0.9 - worst.value:.3f} pu")
    assert len(violation_lines(found)) == len(found)


def test_default_and_overridden_voltage_limits_and_overloads(cigre, case33):
    net, series, res = cigre
    ac = ac_check(net, series, res)
    vm = ac["ac_bus_vm_pu"]
    lows = [v for v in ac_violations(net, ac) if v.kind is ViolationKind.UNDERVOLTAGE]
    assert len(lows) == int((vm < 0.95).sum())  # cigre has no min_vm_pu: 0.95 applies
    # with limits wide open nothing is left: no loading reaches 100 % either
    assert len(ac_violations(net, ac, vm_min_pu=0.0, vm_max_pu=2.0)) == 0

    net33, series33, res33 = case33
    ac33 = ac_check(net33, series33, res33.isel(time=[12]))
    loading = float(ac33["ac_branch_loading_percent"].sel(branch="line:0")[0])
    assert not [v for v in ac_violations(net33, ac33) if v.kind is ViolationKind.OVERLOAD]
    rated = copy.deepcopy(net33)
    rated.line.at[0, "max_loading_percent"] = round(loading / 2)  # derate the first line
    over = [v for v in ac_violations(rated, ac33) if v.kind is ViolationKind.OVERLOAD]
    assert [(v.element, v.limit) for v in over] == [("line:0", round(loading / 2))]
    assert over[0].amount == pytest.approx(loading - round(loading / 2))
    assert violation_lines(over)[0] == (
        f"line 0 overload {loading:.1f} % > {round(loading / 2)} at 2016-06-06 12:00 UTC, "
        f"by {loading - round(loading / 2):.1f} %")


# --------------------------------------------------------------------------- dataset, linear error


def test_dataset_carries_cf_attributes_and_backend(oberrhein):
    net, series, res = oberrhein
    ac = ac_check(net, series, res.isel(time=slice(0, 3)))
    for name, var in ac.data_vars.items():
        assert var.attrs.get("units") and var.attrs.get("long_name"), name
    assert ac["ac_bus_vm_pu"].dims == ("time", "bus")
    labels = [f"line:{i}" for i in net.line.index] + [f"trafo:{i}" for i in net.trafo.index]
    assert list(ac["branch"].values) == labels  # e.g. "line:0", ..., "trafo:114"
    assert ac.attrs["ac_backend"] == "lightsim2grid" and ac.attrs["ac_time_s"] > 0
    # two external grids feed two separate parts; each supplies its own part's demand
    assert (ac["ac_ext_grid_p_mw"] > 0).all()


def test_linear_error_measures_the_gap_and_the_unmodelled_losses(case33):
    net, series, res = case33
    ac = ac_check(net, series, res)
    linear = res.copy()
    vm = ac["ac_bus_vm_pu"].copy()
    vm.loc[dict(time="2016-06-06 07:00", bus=17)] += 0.02  # one value off by 0.02 pu
    linear["bus_vm_pu"] = vm
    linear["branch_p_mw"] = ac["ac_branch_p_from_mw"] - 0.5  # every flow off by 0.5 MW
    # a lossless balance: what the loads draw (no generation in case33bw)
    linear["ext_grid_import_mw"] = series["load_p_mw"].sum("load").expand_dims(ext_grid=[0], axis=1)
    err = linear_error(linear, ac)
    assert err["steps"] == STEPS
    assert err["vm_abs_max_pu"] == pytest.approx(0.02)
    assert err["vm_abs_mean_pu"] == pytest.approx(0.02 / (STEPS * len(net.bus)))
    assert err["vm_abs_max_at"] == "bus 17 at 2016-06-06 07:00 UTC"
    assert err["p_abs_max_mw"] == pytest.approx(0.5) and err["p_abs_mean_mw"] == pytest.approx(0.5)
    # AC import minus the lossless import is exactly the line losses
    assert err["ext_grid_p_mean_mw"] == pytest.approx(float(ac["ac_losses_mw"].mean()), abs=1e-6)
