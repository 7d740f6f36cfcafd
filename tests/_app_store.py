"""A run store with real runs for the app tests, made once per pytest session.

Four runs come from the real CLI, in parallel: the default model (24 h, with the AC check),
``beijing`` (its results carry the AQI of its stations), ``caltech`` (24 h, ``--no-ac``;
a DC grid, so no voltages) and a two-day ``gridopt dayahead`` of ``urban_mvlv`` (254 buses;
EV charging per EV bus, not per session; no AC check). Two damaged runs are saved through the store's own API from the
default run's results: one whose results file is overwritten with garbage, one whose results
file is deleted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from gridopt.store import RESULTS_FILE, Store

CLI_RUNS = {
    "default": ["run", "--hours", "24"],
    "beijing": ["run", "beijing", "--hours", "24", "--no-ac"],
    "caltech": ["run", "caltech", "--hours", "24", "--no-ac"],
    "urban_mvlv": ["dayahead", "urban_mvlv", "--from", "2016-06-06", "--to", "2016-06-07", "--perfect"],
}
IDS_FILE = "app-test-ids.json"


def make_store(base: Path, shared_data: Path) -> tuple[Path, dict[str, str]]:
    """The store folder and the run ids by role (``default``, ``beijing``, ``caltech``,
    ``urban_mvlv``, ``corrupt``, ``missing``); made under ``base`` once, then reused. ``$GRIDOPT_APP_TEST_BASE``
    replaces ``base`` (keep the runs between sessions while working on the app)."""
    base = Path(os.environ.get("GRIDOPT_APP_TEST_BASE") or base)
    base.mkdir(parents=True, exist_ok=True)
    root = base / "app-store"
    ids_file = base / IDS_FILE
    if ids_file.exists():
        return root, json.loads(ids_file.read_text())
    procs = {
        model: subprocess.Popen(
            [sys.executable, "-m", "gridopt.cli", "--data-dir", str(shared_data),
             "--store", str(root), *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for model, args in CLI_RUNS.items()
    }
    for model, proc in procs.items():
        output = proc.communicate(timeout=300)[0]
        if proc.returncode not in (0, 3):  # 3: stored, infeasible as posed (an EV short, say)
            raise RuntimeError(f"gridopt run {model} failed:\n{output}")
    store = Store(root)
    ids = {record.model: record.run_id for record in store.list()}
    ids["corrupt"] = _damaged(store, ids["default"], "corrupt-run", b"this is not NetCDF")
    ids["missing"] = _damaged(store, ids["default"], "missing-run", None)
    ids_file.write_text(json.dumps(ids))
    return root, ids


def _damaged(store: Store, source: str, run_id: str, content: bytes | None) -> str:
    store.save(store.open(source), model="default", run_id=run_id)
    path = store.get(run_id).path / RESULTS_FILE
    if content is None:
        path.unlink()
    else:
        path.write_bytes(content)
    return run_id
