"""Shared fixtures: where the real public data lives (``../shared/data`` beside the checkout), and
the run store with real runs that the app tests read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """``GRIDOPT_SHARED_DATA`` if set, else ``../shared/data`` relative to the repository."""
    return Path(os.environ.get("GRIDOPT_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        pytest.fail(f"the shared data folder is missing: {path} (set GRIDOPT_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def runs(tmp_path_factory, shared_data):
    """The app tests' store of real runs and their ids by role (see ``_app_store.make_store``)."""
    from _app_store import make_store

    from gridopt.store import Store

    root, ids = make_store(tmp_path_factory.getbasetemp(), shared_data)
    return Store(root), ids
