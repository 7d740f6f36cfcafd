"""The ``gridopt`` command end to end: run, runs list/show/export, data list/fetch, exit codes."""

from __future__ import annotations

import csv

import pytest
import xarray as xr

from gridopt.cli import main
from gridopt.store import Store


@pytest.fixture(scope="module")
def day_run(tmp_path_factory):
    """The default model over its first day, stored in a fresh store."""
    root = tmp_path_factory.mktemp("store")
    out = root / "results.nc"
    code = main(["--store", str(root), "run", "--hours", "24", "--out", str(out)])
    return code, root, out


def test_run_exits_0_and_stores_the_run(day_run, capsys):
    code, root, out = day_run
    assert code == 0
    records = Store(root).list()
    assert len(records) == 1 and records[0].model == "default" and records[0].status == "optimal"
    results = xr.open_dataset(out)
    assert results.sizes["time"] == 24
    assert results.attrs["kpi_cost_avoided"] == pytest.approx(
        results.attrs["kpi_baseline_cost_total"] - results.attrs["kpi_cost_total"])
    # Smart charging and storage never make the run dearer than the uncontrolled baseline.
    assert results.attrs["kpi_cost_avoided"] >= -1e-6
    # Every step went through the AC power flow, and it converged.
    assert results["ac_converged"].values.all() and results.attrs["ac_backend"] == "lightsim2grid"
    assert results["ac_bus_vm_pu"].sizes == {"time": 24, "bus": 144}


def test_runs_list_show_export(day_run, capsys, tmp_path):
    _code, root, _out = day_run
    run_id = Store(root).list()[0].run_id
    assert main(["--store", str(root), "runs", "list"]) == 0
    assert run_id in capsys.readouterr().out
    assert main(["--store", str(root), "runs", "show", run_id]) == 0
    shown = capsys.readouterr().out
    assert "co2_marginal_avoided_t" in shown and "optimal" in shown
    target = tmp_path / "import.csv"
    assert main(["--store", str(root), "runs", "export", run_id, "--variable", "ext_grid_import_mw",
                 "--out", str(target)]) == 0
    rows = list(csv.DictReader(target.open()))
    assert len(rows) == 24 and "ext_grid_import_mw" in rows[0]


def test_run_with_a_window_outside_the_data_exits_2(tmp_path, capsys):
    assert main(["--store", str(tmp_path), "run", "--start", "2019-01-01T00:00:00Z"]) == 2
    err = capsys.readouterr().err
    assert "series.profiles" in err and "2019-01-01" in err and "Traceback" not in err
    assert Store(tmp_path).list() == []


def test_data_list_finds_the_shared_files(shared_data, capsys):
    assert main(["--data-dir", str(shared_data), "data", "list"]) == 0
    printed = capsys.readouterr().out
    assert "air_quality/beijing_multisite" in printed and "UCI Machine Learning Repository" in printed
    assert " no " not in printed.split("public data sets")[0]  # every file a shipped model reads is there


def test_data_fetch_errors(capsys):
    assert main(["data", "fetch", "nope"]) == 2
    assert "data set must be one of" in capsys.readouterr().err
    assert main(["data", "fetch", "acn_caltech"]) == 1
    assert "no public download address" in capsys.readouterr().err


def test_infeasible_as_posed_exits_3_and_names_the_bus(tmp_path, capsys):
    """An import limit far below the load forces load shedding: stored, explained, exit 3."""
    model = tmp_path / "tight.toml"
    model.write_text(
        'name = "tight"\n[network]\nsource = "simbench:1-MV-urban--0-sw"\n'
        '[time]\nstart = "2016-06-06T00:00:00Z"\nhours = 3\n'
        '[series.profiles]\nloader = "simbench_profiles"\n[series.carbon]\nloader = "simbench_carbon"\n'
        "[grid]\nimport_max_mw = 1.0\n"
    )
    assert main(["--store", str(tmp_path / "store"), "run", str(model), "--no-ac"]) == 3
    printed = capsys.readouterr().out
    assert "load shed" in printed.lower() and "bus" in printed and "2016-06-06 00:00 UTC" in printed
    records = Store(tmp_path / "store").list()
    assert [r.status for r in records] == ["infeasible_as_posed"]


def test_python_api_matches_the_cli_semantics():
    import pandapower.networks as pn
    import pandas as pd

    import gridopt

    net = pn.case9()
    times = pd.date_range("2020-01-01", periods=2, freq="1h")
    series = xr.Dataset(
        {"ext_grid_price_per_mwh": ("time", [30.0, 30.0]),
         "ext_grid_co2_marginal_t_per_mwh": ("time", [0.5, 0.5]),
         "ext_grid_co2_average_t_per_mwh": ("time", [0.4, 0.4])},
        coords={"time": times},
    )
    results = gridopt.optimize(net, series, carbon_price_per_t=10.0)
    assert results.attrs["status"] == "optimal"
    # Total generation (gens + slack import) equals case9's 315 MW of load in every hour.
    supplied = results.gen_p_mw.sum("gen") + results.ext_grid_import_mw.sum("ext_grid")
    assert supplied.values == pytest.approx([315.0, 315.0])


@pytest.mark.parametrize("model", ["beijing", "caltech"])
def test_shipped_data_models_run_a_day(model, shared_data, tmp_path):
    """The public-data models run end to end and are optimal (no slack) over their first day."""
    code = main(["--data-dir", str(shared_data), "--store", str(tmp_path), "run", model,
                 "--hours", "24", "--no-ac"])
    assert code == 0
    record = Store(tmp_path).list()[0]
    assert record.model == model and record.status == "optimal"
    assert record.kpis["ev_energy_served_mwh"] > 0


def test_every_command_prints_its_help(capsys):
    """argparse formats each help text only when asked: a stray '%' in one fails here, not in use."""
    top = _parser_commands()
    assert {"run", "dayahead", "batch", "schedule", "forecast", "runs", "app"} <= set(top)
    for command in [[], *([name] for name in top)]:
        with pytest.raises(SystemExit) as info:
            main([*command, "--help"])
        assert info.value.code == 0
        assert "usage: gridopt" in capsys.readouterr().out


def _parser_commands() -> list[str]:
    import argparse

    from gridopt.cli import _parser

    (sub,) = [a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return list(sub.choices)
