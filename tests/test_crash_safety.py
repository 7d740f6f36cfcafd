"""``gridopt run`` killed with SIGKILL, and runs writing to one store at once.

Real processes (``python -m gridopt.cli``) on the default model, 24 h without the AC check. A run
is killed while it optimizes and another while the store writes its results folder; the store
must stay readable (``list`` works, no half-written run is visible, nothing under the ``--out``
name) and two runs started together afterwards must both land. Each batch runs its two
processes side by side, so the file takes about two run times (~40 s on two idle cores).

``gridopt batch`` (three carbon-price variants on its own LocalCluster) is killed as soon as its
first run lands: its workers must exit with it, every listed run must open, and a rerun must
complete the others (~40 s more).
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from gridopt.errors import DataError
from gridopt.store import Store

DEADLINE_S = 300  # generous: two cores shared with other test runs


def start_run(store: Path, out: Path, cwd: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDOPT_")}
    return subprocess.Popen(
        [sys.executable, "-m", "gridopt.cli", "--store", str(store), "run", "--hours", "24",
         "--no-ac", "--out", str(out)],
        cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )


def stderr_lines(proc: subprocess.Popen) -> queue.Queue:
    """The process's stderr lines as they come (read by a thread, so the test can poll)."""
    lines: queue.Queue = queue.Queue()

    def read() -> None:
        for line in proc.stderr:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    return lines


def kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


@pytest.mark.slow
def test_killed_runs_leave_a_readable_store_and_two_reruns_both_land(tmp_path):
    store = Store(tmp_path / "store")
    outs = {name: tmp_path / f"{name}.nc" for name in ("optimizing", "storing", "a", "b")}
    optimizing = start_run(store.root, outs["optimizing"], tmp_path)
    storing = start_run(store.root, outs["storing"], tmp_path)
    progress = stderr_lines(optimizing)
    try:
        _kill_at_their_phases(optimizing, progress, storing, store)
    finally:
        for proc in (optimizing, storing):
            if proc.poll() is None:
                kill(proc)
    assert optimizing.returncode == storing.returncode == -signal.SIGKILL

    # The kill landed inside the store's write: a temporary folder with the partial run.
    partial = list(store.runs_dir.glob(f".tmp-*-{storing.pid}"))
    assert len(partial) == 1
    half_written_id = partial[0].name.removeprefix(".tmp-").rsplit("-", 1)[0]
    # Nothing of either run is visible: no catalog row, no run, no --out file.
    assert store.list() == []
    with pytest.raises(DataError, match=f"run '{half_written_id}' is not in the store"):
        store.open(half_written_id)
    assert not outs["optimizing"].exists() and not outs["storing"].exists()
    assert list(tmp_path.glob(".storing.nc.tmp-*"))  # --out was written, under its temporary name

    # Two runs started together on the crashed store both complete and land.
    reruns = [start_run(store.root, outs[name], tmp_path) for name in ("a", "b")]
    for proc in reruns:
        _, err = proc.communicate(timeout=DEADLINE_S)
        assert proc.returncode == 0, err
    records = store.list()
    assert len(records) == 2 and len({r.run_id for r in records}) == 2
    for record in records:
        assert record.model == "default" and record.status == "optimal"
        results = store.open(record.run_id)
        assert results.sizes["time"] == 24 and results.attrs["status"] == "optimal"
    assert outs["a"].is_file() and outs["b"].is_file()
    assert store.repair(older_than=timedelta(0)).removed_tmp == [partial[0].name]
    assert {r.run_id for r in store.list()} == {r.run_id for r in records}


def _kill_at_their_phases(optimizing, progress, storing, store: Store) -> None:
    """SIGKILL ``optimizing`` once its scenario is built (it then optimizes) and ``storing`` as
    soon as its results folder appears under the store's temporary name."""
    deadline = time.monotonic() + DEADLINE_S
    while optimizing.poll() is None or storing.poll() is None:
        assert time.monotonic() < deadline, "the runs took too long"
        if optimizing.poll() is None:
            try:
                if progress.get_nowait().startswith("  scenario"):
                    kill(optimizing)
            except queue.Empty:
                pass
        if storing.poll() is None and list(store.runs_dir.glob(f".tmp-*-{storing.pid}")):
            kill(storing)
        time.sleep(0.002)
        for proc, phase in ((optimizing, "optimize"), (storing, "store")):
            if proc.returncode is not None and proc.returncode != -signal.SIGKILL:
                pytest.fail(f"the run meant to be killed while it {phase}s ended first "
                            f"(exit {proc.returncode})")


BATCH_VARIANTS = """
[common]
time.hours = 24
[variants.p0]
policy.carbon_price_per_t = 0
[variants.p50]
policy.carbon_price_per_t = 50
[variants.p100]
policy.carbon_price_per_t = 100
"""


def start_batch(store: Path, variants: Path, cwd: Path) -> subprocess.Popen:
    """``gridopt batch`` on its own LocalCluster, in a new session (its group is its workers)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDOPT_")}
    return subprocess.Popen(
        [sys.executable, "-m", "gridopt.cli", "--store", str(store), "batch", "default",
         "--variants", str(variants)],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
def test_a_killed_batch_leaves_a_readable_store_and_a_rerun_completes_it(tmp_path):
    store = Store(tmp_path / "store")
    variants = tmp_path / "variants.toml"
    variants.write_text(BATCH_VARIANTS)
    batch = start_batch(store.root, variants, tmp_path)
    deadline = time.monotonic() + DEADLINE_S
    try:
        while not store.list():  # SIGKILL the batch as soon as its first run lands
            assert batch.poll() is None, f"the batch ended first: {batch.communicate()}"
            assert time.monotonic() < deadline, "the batch took too long"
            time.sleep(0.05)
    finally:
        kill(batch)
    assert batch.returncode == -signal.SIGKILL
    # The LocalCluster's worker processes notice their parent is gone and exit: nothing goes on
    # writing into the store behind our back.
    deadline = time.monotonic() + 30
    while _group_alive(batch.pid):
        assert time.monotonic() < deadline, "worker processes outlived the killed batch"
        time.sleep(0.1)

    landed = store.list()
    assert 1 <= len(landed) < 3
    for record in landed:  # every listed run is complete and opens
        assert record.status == "optimal" and store.open(record.run_id).sizes["time"] == 24

    rerun = start_batch(store.root, variants, tmp_path)
    out, err = rerun.communicate(timeout=DEADLINE_S)
    assert rerun.returncode == 0, err
    assert f"{3 - len(landed)} ran, {len(landed)} done before, 0 failed" in out
    records = store.list()
    assert sorted(r.run_id.split(".")[1] for r in records) == ["p0", "p100", "p50"]
    assert {r.run_id for r in landed} <= {r.run_id for r in records}
    for record in records:
        assert store.open(record.run_id).attrs["status"] == "optimal"
    store.repair(older_than=timedelta(0))  # whatever the kill left under .tmp-* goes
    assert not list(store.runs_dir.glob(".tmp-*"))
    assert {r.run_id for r in store.list()} == {r.run_id for r in records}
