"""The app stays light: in a fresh interpreter, importing it, creating it, serving its shell and
building every page of a real run loads neither Pyomo, pandapower nor statsmodels."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

from _app_store import make_store
from gridopt.app import DEFAULT_HOST, create_app, serve

HEAVY = ("pyomo", "pandapower", "statsmodels", "highspy", "lightsim2grid", "simbench")

SCRIPT = """
import json, sys
from gridopt.app import create_app
from gridopt.app.data import AppData
from gridopt.app.layout import PAGES, Route, page
from gridopt.store import Store

store = Store(sys.argv[1])
app = create_app(store)
client = app.server.test_client()
codes = [client.get(p).status_code for p in ("/", "/_dash-layout", "/_dash-dependencies")]
for name in PAGES:
    page(AppData(store), Route(name, sys.argv[2], sys.argv[3]))
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[4:]))
print(json.dumps({"codes": codes, "heavy": heavy, "debug": app.server.debug}))
"""


def test_app_imports_no_solver_grid_or_forecast_package(tmp_path_factory, shared_data):
    root, ids = make_store(tmp_path_factory.getbasetemp(), shared_data)
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(root), ids["default"], ids["beijing"],
                           *HEAVY], capture_output=True, text=True, timeout=120, check=True)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"codes": [200, 200, 200], "heavy": [], "debug": False}


def test_served_on_loopback_with_debug_off_by_default(tmp_path):
    assert DEFAULT_HOST == "127.0.0.1"
    assert inspect.signature(serve).parameters["host"].default == DEFAULT_HOST
    assert create_app(tmp_path / "empty-store").server.debug is False
