"""``gridopt batch`` on a real LocalCluster: variants land, reruns skip, failures stay alone.

One LocalCluster (2 worker processes) serves the module through ``--scheduler``. The batch is
the default model over its first 24 h (``[common] time.hours``) at carbon prices 0 and 100
EUR/t plus a variant whose battery sits on a bus the grid lacks; it runs once (~20 s).
"""

from __future__ import annotations

import logging

import pytest

from gridopt.batch import apply_overrides, batch_run_id, load_variants
from gridopt.cli import main
from gridopt.config import load_model
from gridopt.errors import ConfigError
from gridopt.store import Store

VARIANTS = """
[common]
time.hours = 24

[variants.price0]
policy.carbon_price_per_t = 0

[variants.price100]
policy.carbon_price_per_t = 100

[variants.badbus]                         # valid as a file, fails when the grid is loaded
assets.battery.battery_bus15.bus = 9999
"""


@pytest.fixture(scope="module")
def scheduler():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def batch(scheduler, tmp_path_factory):
    """The batch run once: (exit code, stdout, store, variants file)."""
    root = tmp_path_factory.mktemp("batch")
    variants = root / "variants.toml"
    variants.write_text(VARIANTS)
    store = Store(root / "store")
    code, text = _run(store, variants, scheduler)
    return code, text, store, variants


def _run(store: Store, variants, scheduler: str) -> tuple[int, str]:
    from gridopt import cli

    with cli.out.capture() as captured:
        code = main(["--store", str(store.root), "batch", "default", "--variants", str(variants),
                     "--scheduler", scheduler])
    return code, captured.get()


def _expected_id(variants, name: str) -> str:
    config = apply_overrides(load_model("default"), load_variants(variants)[name], where=name)
    return batch_run_id(config, name)


def test_good_variants_land_under_their_deterministic_ids(batch):
    _code, text, store, variants = batch
    records = {r.run_id: r for r in store.list()}
    expected = {name: _expected_id(variants, name) for name in ("price0", "price100")}
    assert set(records) == set(expected.values()), text
    for name, run_id in expected.items():
        assert run_id.startswith(f"default.{name}.") and run_id in text
        assert records[run_id].status == "optimal"
        assert store.open(run_id).sizes["time"] == 24
        assert store.manifest(run_id)["options"]["carbon_price_per_t"] == {"price0": 0, "price100": 100}[name]
    # A carbon price never raises the emissions it prices (marginal CO2 of the grid, t).
    co2 = {name: records[run_id].kpis["co2_marginal_t"] for name, run_id in expected.items()}
    assert co2["price100"] <= co2["price0"] - 1.0, co2
    # … and it costs: the price-0 run minimises energy cost alone.
    assert records[expected["price0"]].kpis["cost_total"] < records[expected["price100"]].kpis["cost_total"]


def test_a_failing_variant_fails_alone_with_one_line(batch):
    code, text, store, variants = batch
    assert code == 2  # the worst task: the bad bus is bad input (NetworkError/ConfigError)
    bad = _expected_id(variants, "badbus")
    assert bad in text and "failed" in text
    message = next(line for line in text.splitlines() if line.strip().startswith("default/badbus:"))
    assert "assets.battery[0].bus" in message and "9999" in message
    assert "Traceback" not in text
    assert "2 ran, 0 done before, 1 failed" in text
    with pytest.raises(Exception, match="is not in the store"):
        store.get(bad)


def test_a_rerun_skips_what_is_done_and_redoes_what_failed(batch, scheduler):
    _code, _text, store, variants = batch
    before = {r.run_id: r.created for r in store.list()}
    code, text = _run(store, variants, scheduler)
    assert code == 2
    assert "0 ran, 2 done before, 1 failed" in text
    assert {r.run_id: r.created for r in store.list()} == before  # no new row, none rewritten


@pytest.mark.parametrize(("body", "expected"), [
    ('[variants.x]\npolicy.carbon_prise_per_t = 5\n',
     "variant 'x': policy.carbon_prise_per_t: unknown key (did you mean 'carbon_price_per_t'?"),
    ('[variants.x]\npolicy.carbon_price_per_t = -5\n',
     "variant 'x': policy.carbon_price_per_t: must be greater than or equal to 0"),
    ('[variants.x]\nassets.battery.7.e_mwh = 4.0\n',
     "variant 'x': assets.battery.7: no such entry (expected an index 0-3 or one of: battery_bus15"),
    ('[variants."big storage"]\n', "variants.big storage: variant names must be"),
    ('[variant.x]\n', "variant: unknown key (expected one of: common, variants)"),
    ('[common]\ntime.hours = 24\n', "variants: at least one [variants.<name>] table is required"),
    ('[variants.x\n', "not valid TOML"),
])
def test_a_bad_variants_file_exits_2_with_one_line_before_any_run(tmp_path, capsys, body, expected):
    variants = tmp_path / "v.toml"
    variants.write_text(body)
    code = main(["--store", str(tmp_path / "store"), "batch", "default", "--variants", str(variants),
                 "--scheduler", "tcp://127.0.0.1:9"])  # never contacted: the file fails first
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and str(variants) in err and expected in err, err
    assert not (tmp_path / "store").exists()


def test_time_hours_replaces_the_models_end_and_the_reverse():
    config = load_model("default")
    assert apply_overrides(config, {"time": {"hours": 6}}, where="t").time.end_utc.hour == 6
    moved = apply_overrides(config, {"time": {"end": "2016-06-07T12:00:00Z"}}, where="t")
    assert moved.time.hours is None and moved.time.end_utc.isoformat() == "2016-06-07T12:00:00"
    with pytest.raises(ConfigError, match="t: time: give exactly one of 'end' or 'hours'"):
        apply_overrides(config, {"time": {"hours": 6, "end": "2016-06-07T12:00:00Z"}}, where="t")
