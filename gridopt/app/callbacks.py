"""Callbacks: thin glue from the URL and the controls to ``layout`` builders and ``data``.

A :class:`~gridopt.errors.DataError` (invalid or unknown run id, missing or corrupt files) is
rendered as a message on the page. A bug in a page is too, as one line naming the error, with
its traceback in the server log: the user never sees a traceback nor a silently stale page.
"""

from __future__ import annotations

import logging

import dash
from dash import Input, Output, State, dcc, no_update

from gridopt.app import layout
from gridopt.app.data import AppData
from gridopt.errors import DataError

__all__ = ["register"]

log = logging.getLogger(__name__)


def register(app: dash.Dash, data: AppData) -> None:
    """Attach every callback of the app to ``app``, reading through ``data``."""

    @app.callback(
        Output("nav", "children"),
        Output("run", "options"),
        Output("run", "value"),
        Output("other", "options"),
        Output("other", "value"),
        Output("other-box", "style"),
        Output("page", "children"),
        Input("url", "pathname"),
        Input("url", "search"),
    )
    def render(pathname, search):
        route = layout.Route.parse(pathname, search)
        try:
            route = layout.resolve(data, route)
            options = layout.run_options(data)
            body = layout.page(data, route)
        except DataError as exc:
            options, body = no_update, [layout.message(str(exc), "error")]
        except Exception as exc:  # a bug: say so on the page, the traceback goes to the server log
            log.exception("page %s of run %s", pathname, route.run)
            options, body = no_update, [layout.message(
                f"This page could not be drawn ({type(exc).__name__}: {exc}); the server log has the details.",
                "error")]
        return (layout.nav(route), options, route.run, options, route.other,
                layout.other_box_style(route), body)

    @app.callback(
        Output("url", "search"),
        Input("run", "value"),
        Input("other", "value"),
        State("url", "pathname"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def pick(run, other, pathname, search):
        try:
            current = layout.resolve(data, layout.Route.parse(pathname, search))
        except DataError:  # the catalog is unreadable: render() already shows why
            return no_update
        chosen = current.with_runs(run, other)
        if (chosen.run, chosen.other) == (current.run, current.other) or chosen.run is None:
            return no_update
        return chosen.search()

    @app.callback(
        Output("download", "data"),
        Output("export-status", "children"),
        Input("export-button", "n_clicks"),
        State("export-variable", "value"),
        State("run", "value"),
        prevent_initial_call=True,
    )
    def download(n_clicks, variable, run):
        if not n_clicks or not variable or not run:
            return no_update, no_update
        try:
            content = data.export_csv(run, variable)
        except DataError as exc:
            return no_update, layout.message(str(exc), "error")
        return dcc.send_bytes(content, f"{run}-{variable}.csv"), f"downloaded {variable}.csv"
