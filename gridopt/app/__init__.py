"""The Dash app for sustainability officers and engineers: results of stored runs.

``create_app(store)`` builds the app; ``serve`` runs it on Flask's threaded server::

    from gridopt.app import create_app
    create_app("gridopt-runs").run(host="127.0.0.1", port=8050, debug=False)

The app reads the run store only (``gridopt.app.data``), and imports neither Pyomo,
pandapower nor statsmodels.
"""

from __future__ import annotations

from pathlib import Path

import dash

from gridopt.app import callbacks, layout
from gridopt.app.data import AppData
from gridopt.store import Store

__all__ = ["create_app", "serve", "DEFAULT_HOST", "DEFAULT_PORT"]

DEFAULT_HOST = "127.0.0.1"  # loopback: the app has no login, so it is not exposed by default
DEFAULT_PORT = 8050


def create_app(store: Store | Path | str | None = None) -> dash.Dash:
    """The app over ``store`` (a ``Store``, or its folder; None: ``$GRIDOPT_STORE`` or
    ``./gridopt-runs``). Run it with ``app.run(host, port, debug=False)`` or :func:`serve`."""
    store = store if isinstance(store, Store) else Store(store)
    app = dash.Dash(__name__, title="gridopt", suppress_callback_exceptions=True,
                    update_title=None)
    app.layout = layout.shell()
    callbacks.register(app, AppData(store))
    return app


def serve(store: Store | Path | str | None = None, host: str = DEFAULT_HOST,
          port: int = DEFAULT_PORT) -> None:
    """Serve the app until interrupted (threaded Flask server, debug off)."""
    create_app(store).run(host=host, port=port, debug=False)
