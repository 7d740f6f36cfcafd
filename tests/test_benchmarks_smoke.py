"""Smoke run of the benchmark runner at its smallest size: case118 and SimBench LV, T = 24, every
tool once (benchmarks/run.py). Checks that the tools solved the same LP (objectives agree), that
the AC loop by hand sees the voltages gridopt's AC check sees, and that both reports were written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOLVERS = ("gridopt", "highs", "pypsa", "pyomo")

# case118 anchor at T = 24 (benchmarks/registry.py, seeded): the objective gridopt, HiGHS alone,
# PyPSA and plain Pyomo all reached in benchmarks/results/main.json (cost units of case118's linear
# costs plus the CO2 and NOx prices). A change to the case or to the formulation moves it.
CASE118_T24_OBJECTIVE = 5607268.242361051


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "smoke.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--problems", "case118", "sb_lv",
           "--hours", "24", "--repeat", "1", "--runpp-steps", "12", "--out", str(out)]
    done = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=180, cwd=ROOT)
    return done, out


def test_runner_exits_cleanly_and_writes_both_reports(smoke):
    done, out = smoke
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    assert [(c["problem"], c["hours"]) for c in report["cases"]] == [("case118", 24), ("sb_lv", 24)]
    md = out.with_suffix(".md").read_text()
    assert "| case118 | 24 | gridopt |" in md and "| sb_lv | 24 | PyPSA (linopy) |" in md
    assert report["machine"]["nproc"] >= 1 and report["load_start"] and report["load_end"]


def test_objectives_agree_across_tools(smoke):
    _, out = smoke
    for case in json.loads(out.read_text())["cases"]:
        med = case["median"]
        assert case["agree"], case["objectives"]
        objectives = [med[tool]["objective"] for tool in SOLVERS]
        assert max(objectives) - min(objectives) <= 1e-6 * max(abs(o) for o in objectives)
        assert all(med[tool]["status"] in ("optimal", "kOptimal") for tool in ("gridopt", "highs", "pyomo"))
        # HiGHS alone solved gridopt's own LP: same size
        assert (med["highs"]["cols"], med["highs"]["rows"]) == (med["gridopt"]["cols"], med["gridopt"]["rows"])
    case118 = json.loads(out.read_text())["cases"][0]["median"]["gridopt"]
    assert case118["objective"] == pytest.approx(CASE118_T24_OBJECTIVE, rel=1e-6)  # the runner's tolerance


def test_phases_and_ratios_are_recorded(smoke):
    _, out = smoke
    case = json.loads(out.read_text())["cases"][0]["median"]
    g = case["gridopt"]
    assert g["total"] == pytest.approx(g["build"] + g["handoff"] + g["highs"] + g["extract"])
    assert all(case[tool]["peak_rss_gb"] > 0.1 for tool in SOLVERS)  # imports alone take more
    assert g["ac_converged"] == "24/24"
    assert case["runpp"]["ac_steps"] == 12
    assert case["runpp"]["ac_max_dvm_pu"] < 1e-6  # the same AC flows, by hand and by gridopt


def test_disagreeing_objectives_are_refused():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from run import agreement

    ok, _ = agreement({"gridopt": {"objective": 100.0}, "pypsa": {"objective": 100.00005}})
    bad, note = agreement({"gridopt": {"objective": 100.0}, "pypsa": {"objective": 100.001}})
    assert ok and not bad and "1.0e-05" in note
