"""Layouts: the page shell, the routes, and one builder per page.

URLs: ``/<page>?run=<run id>&other=<run id>``; ``/`` is the overview of the newest run. A page
builder takes the app's data (``gridopt.app.data.AppData``) and the route and returns Dash
components; it reads only through ``AppData`` and draws only through ``gridopt.app.figures``.
A :class:`~gridopt.errors.DataError` raised while building is shown by the caller as a message.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from urllib.parse import parse_qs, urlencode

import numpy as np
import xarray as xr
from dash import dash_table, dcc, html

from gridopt.app import figures
from gridopt.app.data import AppData, aqi_names, has_topology, intensity_names, kpis
from gridopt.kpis import AVOIDED

__all__ = ["PAGES", "OVERVIEW_CARDS", "Route", "resolve", "shell", "nav", "run_options",
           "other_box_style", "page", "message", "fmt"]

PAGES = {
    "overview": "Overview",
    "carbon": "Carbon",
    "air-quality": "Air quality",
    "ev-storage": "EV and storage",
    "network": "Network",
    "compare": "Compare",
    "runs": "Runs",
    "export": "Export",
}
DEFAULT_PAGE = "overview"
MAX_LISTED_VIOLATIONS = 50
PAGE_CACHE_SIZE = 64  # built page bodies kept (route x run versions)

# (title, KPI name, unit); "avoided" KPIs are baseline minus run, positive is a saving.
OVERVIEW_CARDS = (
    ("CO2 avoided, marginal signal", "co2_marginal_avoided_t", "t"),
    ("CO2 avoided, average signal", "co2_average_avoided_t", "t"),
    ("NOx avoided", "nox_avoided_t", "t"),
    ("SO2 avoided", "so2_avoided_t", "t"),
    ("PM2.5 avoided", "pm25_avoided_t", "t"),
    ("Renewable share", "renewable_share", "%"),
    ("Curtailment", "curtailment_mwh", "MWh"),
    ("EV energy served", "ev_energy_served_mwh", "MWh"),
    ("Cost", "cost_total", "currency"),
)
_AVOIDED_OF = {saving: figure for figure, saving in AVOIDED.items()}  # "nox_avoided_t": "nox_t"
_CARD = {"border": "1px solid #ddd", "borderRadius": "6px", "padding": "10px 14px",
         "minWidth": "180px", "background": "#fafafa"}
_MESSAGE = {"padding": "12px", "border": "1px solid #e0c060", "background": "#fff8e0",
            "borderRadius": "6px", "margin": "12px 0"}


@dataclasses.dataclass(frozen=True)
class Route:
    """What a URL asks for: a page name, a run id and a second run id (compare); None unset."""

    page: str | None
    run: str | None = None
    other: str | None = None

    @classmethod
    def parse(cls, pathname: str | None, search: str | None) -> Route:
        """``page`` is None for a path that names no page."""
        name = (pathname or "/").strip("/") or DEFAULT_PAGE
        query = parse_qs((search or "").lstrip("?"))
        return cls(name if name in PAGES else None,
                   (query.get("run") or [None])[0], (query.get("other") or [None])[0])

    def search(self) -> str:
        """The query string (with '?', or '' when no run is chosen)."""
        query = {k: v for k, v in (("run", self.run), ("other", self.other)) if v}
        return "?" + urlencode(query) if query else ""

    def href(self, page: str) -> str:
        return f"/{page}{self.search()}"

    def with_runs(self, run: str | None, other: str | None) -> Route:
        return dataclasses.replace(self, run=run or None, other=other or None)


def resolve(data: AppData, route: Route) -> Route:
    """``route`` with the newest run chosen when the URL names none."""
    return route if route.run else route.with_runs(data.newest(), route.other)


_PICKER = {"width": "420px", "display": "inline-block", "marginRight": "16px"}


def other_box_style(route: Route) -> dict:
    """The second run picker is shown on the Compare page only."""
    return {**_PICKER, "display": "inline-block" if route.page == "compare" else "none"}


def shell() -> html.Div:
    """The static layout: location, navigation, run pickers, page body, download target."""
    return html.Div([
        dcc.Location(id="url", refresh=False),
        html.Header([
            html.H2("gridopt: dispatch results", style={"margin": "0 24px 0 0"}),
            html.Nav(id="nav", style={"display": "flex", "gap": "14px", "flexWrap": "wrap"}),
        ], style={"display": "flex", "alignItems": "center", "padding": "8px 0",
                  "borderBottom": "1px solid #ccc"}),
        html.Div([
            html.Div([html.Label("run"), dcc.Dropdown(id="run", clearable=False)], style=_PICKER),
            html.Div([html.Label("compare with"), dcc.Dropdown(id="other", clearable=True)],
                     id="other-box", style=other_box_style(Route(None))),
        ], style={"margin": "10px 0"}),
        dcc.Loading(html.Main(id="page"), delay_show=300),
        dcc.Download(id="download"),
    ], style={"fontFamily": "system-ui, sans-serif", "margin": "0 24px"})


def nav(route: Route) -> list:
    """Links to every page, keeping the chosen runs; the current page in bold."""
    return [dcc.Link(title, href=route.href(name), id=f"nav-{name}",
                     style={"fontWeight": "bold" if name == route.page else "normal"})
            for name, title in PAGES.items()]


def run_options(data: AppData) -> list[dict]:
    """Dropdown options: every run, newest first, labelled with model and status."""
    return [{"label": f"{r.run_id}  ·  {r.model}  ·  {r.status}", "value": r.run_id}
            for r in data.store.list()]


def message(text: str, kind: str = "note") -> html.Div:
    """A visible message box (``kind``: "note" for absent data, "error" for a failure)."""
    style = _MESSAGE if kind == "note" else {**_MESSAGE, "borderColor": "#d62728",
                                              "background": "#fdecea"}
    return html.Div(text, className=f"gridopt-{kind}", style=style)


def fmt(value: float | None) -> str:
    """A number as the pages print it: thousands separators from 1000, else 4 significant
    digits; '–' for a missing value; values within 1e-9 of zero print as 0."""
    if value is None or not np.isfinite(value):
        return "–"
    if abs(value) < 1e-9:
        return "0"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def _with_unit(value: float | None, unit: str) -> str:
    if unit == "%":
        return "–" if value is None else f"{fmt(value * 100)} %"
    return f"{fmt(value)} {unit}"


def graph(fig, route: Route, name: str) -> dcc.Graph:
    """A figure with plotly's modebar; its camera button downloads a PNG named after the run."""
    filename = f"{route.run or 'run'}-{name}"
    return dcc.Graph(figure=fig, id=f"fig-{name}", config={
        "displaylogo": False,
        "toImageButtonOptions": {"format": "png", "filename": filename, "scale": 2},
    })


def _title(text: str, route: Route, info=None) -> html.Div:
    detail = f"run {route.run}" + (f" · model {info.model} · status {info.status}" if info else "")
    return html.Div([html.H3(text, style={"marginBottom": "2px"}),
                     html.Div(detail, style={"color": "#555"})])


# ---- pages -----------------------------------------------------------------------------


def overview(data: AppData, route: Route) -> list:
    info = data.run(route.run)
    ds = data.dataset(route.run)
    figs = kpis(ds)
    cards = [_card(title, key, unit, figs, ds) for title, key, unit in OVERVIEW_CARDS]
    return [
        _title("Overview: this run against its baseline", route, info),
        html.P("Baseline: uncontrolled EV charging and idle storage on the same grid and data. "
               "Avoided = baseline minus run (positive is a saving)."),
        html.Div(cards, id="kpi-cards", style={"display": "flex", "flexWrap": "wrap", "gap": "10px"}),
        *_explanation(info),
        graph(figures.co2_trend(data.plot_dataset(route.run)), route, "co2-trend"),
    ]


def _card(title: str, key: str, unit: str, figs: dict, ds: xr.Dataset) -> html.Div:
    unit = ds.attrs.get("currency", "") if unit == "currency" else unit
    if key not in figs:
        return html.Div([html.Div(title), html.B("not in this run")], style=_CARD)
    lines = []
    if key in _AVOIDED_OF:
        run, base = figs.get(_AVOIDED_OF[key]), figs.get(f"baseline_{_AVOIDED_OF[key]}")
        lines.append(f"run {_with_unit(run, unit)} · baseline {_with_unit(base, unit)}")
    elif f"baseline_{key}" in figs:
        lines.append(f"baseline {_with_unit(figs[f'baseline_{key}'], unit)}")
    if key == "cost_total" and "cost_avoided" in figs:
        lines.append(f"avoided {_with_unit(figs['cost_avoided'], unit)}")
    return html.Div([html.Div(title, style={"color": "#555"}),
                     html.B(_with_unit(figs[key], unit), style={"fontSize": "1.4em"}),
                     *[html.Div(x, style={"fontSize": "0.85em"}) for x in lines]],
                    className="kpi-card", style=_CARD)


def _explanation(info) -> list:
    if not info.explanation:
        return []
    return [html.H4("Findings of the solve"), html.Ul([html.Li(x) for x in info.explanation])]


def carbon(data: AppData, route: Route) -> list:
    ds, plot = data.dataset(route.run), data.plot_dataset(route.run)
    names = intensity_names(plot)
    return [
        _title("Carbon", route),
        graph(figures.intensity(plot, names), route, "intensity") if names else message(
            "Grid carbon intensity is not in this run: its results carry no "
            "ext_grid_co2_marginal_t_per_mwh / ext_grid_co2_average_t_per_mwh series."),
        graph(figures.co2_trend(plot), route, "co2-trend"),
        graph(figures.emissions_by_source(ds), route, "emissions-by-source"),
        graph(figures.dispatch_stack(plot), route, "dispatch"),
    ]


def air_quality(data: AppData, route: Route) -> list:
    plot = data.plot_dataset(route.run)
    names = aqi_names(plot)
    if not names:
        return [_title("Air quality", route), message(
            "Air quality is not in this run: its results carry no AQI series "
            "(aqi_china or aqi_epa by station).")]
    body = [graph(figures.aqi(plot, name), route, name.replace("_", "-")) for name in names]
    return [_title("Air quality", route), *body, *_aq_figures(kpis(data.dataset(route.run)))]


def _aq_figures(figs: dict) -> list:
    """Hours per AQI category and AQI-weighted emissions (run and baseline), where present."""
    rows = [(k.removeprefix("aqi_hours_").replace("_", " "), f"{fmt(v)} h",
             f"{fmt(figs.get('baseline_' + k))} h") for k, v in figs.items()
            if k.startswith("aqi_hours_")]
    for k, v in figs.items():
        if k.endswith("_aqi_weighted_t") and not k.startswith("baseline_"):
            label = figures.POLLUTANT_LABELS.get(k.removesuffix("_aqi_weighted_t"), k)
            rows.append((f"{label} weighted by the AQ policy", f"{fmt(v)} t",
                         f"{fmt(figs.get('baseline_' + k))} t"))
    if not rows:
        return []
    return [html.H4("Air-quality key figures"), _table(("", "run", "baseline"), rows, "aq-kpis")]


def _table(header, rows, table_id: str) -> html.Table:
    cell = {"border": "1px solid #ddd", "padding": "3px 8px"}
    return html.Table([html.Thead(html.Tr([html.Th(x, style=cell) for x in header])),
                       html.Tbody([html.Tr([html.Td(x, style=cell) for x in row]) for row in rows])],
                      id=table_id, style={"borderCollapse": "collapse", "fontSize": "0.9em"})


def ev_storage(data: AppData, route: Route) -> list:
    plot = data.plot_dataset(route.run)
    has_ev = "ev_p_mw" in plot and "ev_bus" in plot and plot["ev_p_mw"].size > 0
    has_soc = "storage_soc_mwh" in plot and plot.sizes.get("storage", 0) > 0
    return [
        _title("EV charging and storage", route),
        graph(figures.ev_by_bus(plot), route, "ev-by-bus") if has_ev
        else message("EV charging is not in this run: it has no EV sessions."),
        graph(figures.storage_soc(plot), route, "storage-soc") if has_soc
        else message("Storage is not in this run: it has no batteries."),
    ]


def network(data: AppData, route: Route) -> list:
    ds = data.dataset(route.run)
    if "ac_bus_vm_pu" not in ds and "bus_vm_pu" not in ds:
        return [_title("Network", route), message(
            "Bus voltages are not in this run: it was solved without voltages (DC flow) and "
            "without the AC check (run without --no-ac to get them).")]
    notes = []
    if "ac_bus_vm_pu" not in ds:
        notes.append(message("The AC check is not in this run (--no-ac): voltages are the linear "
                             "model's, and branch loadings are not available."))
    if not has_topology(ds):
        notes.append(html.P("Branch end buses are not in this run's results, so buses and "
                            "branches are drawn in index order, not as a map of the grid."))
    listed = []
    if "ac_bus_vm_pu" in ds:
        listed += _findings("AC limit violations", ds.attrs.get("ac_violations", ""), "violations")
    listed += _findings("Findings of the solve (linear model)", ds.attrs.get("explanation", ""),
                        "findings")
    body = [graph(figures.network_graph(ds), route, "network-graph")] if has_topology(ds) else []
    return [_title("Network", route), *notes, *body,
            graph(figures.network_strips(ds), route, "network"), *listed]


def _findings(title: str, text: str, list_id: str) -> list:
    """A heading with the count and the first ``MAX_LISTED_VIOLATIONS`` lines of ``text``."""
    lines = [x for x in str(text).splitlines() if x.strip()]
    out = [html.H4(f"{title}: {len(lines)}"),
           html.Ul([html.Li(x) for x in lines[:MAX_LISTED_VIOLATIONS]], id=list_id)]
    if len(lines) > MAX_LISTED_VIOLATIONS:
        out.append(html.P(f"… and {len(lines) - MAX_LISTED_VIOLATIONS} more (Runs page, or "
                          "`gridopt runs show`)."))
    return out


def compare(data: AppData, route: Route) -> list:
    head = _title("Compare two runs", route)
    if not route.other:
        return [head, message("Choose a second run under 'compare with'.")]
    a, b = kpis(data.dataset(route.run)), kpis(data.dataset(route.other))
    names = [k for k in {**a, **b} if not k.startswith("baseline_")]
    rows = [(k, fmt(a.get(k)), fmt(b.get(k)), fmt(b[k] - a[k]) if k in a and k in b else "–")
            for k in names]
    table = _table(("key figure", route.run, route.other, "second − first"), rows, "compare-table")
    fig = figures.compare_overlay(data.plot_dataset(route.run), data.plot_dataset(route.other),
                                  route.run, route.other)
    return [head, graph(fig, route, "compare"), html.H4("Key figures (baseline figures: Overview)"),
            table]


def runs(data: AppData, route: Route) -> list:
    records = data.runs()
    if not records:
        return [html.H3("Runs"), message(f"No runs in the store {data.store.root}: "
                                         "make one with `gridopt run`.")]
    rows = [{
        "run": f"[{r.run_id}](/overview?run={r.run_id})",
        "model": r.model,
        "created (UTC)": f"{r.created:%Y-%m-%d %H:%M:%S}",
        "status": r.status or "–",
        "objective": fmt(r.objective),
        "CO2 avoided, marginal (t)": fmt(r.kpis.get("co2_marginal_avoided_t")),
        "explanation / errors": r.problem or " | ".join(r.explanation) or "",
    } for r in records]
    columns = [{"name": k, "id": k, **({"presentation": "markdown"} if k == "run" else {})}
               for k in rows[0]]
    table = dash_table.DataTable(
        rows, columns, id="runs-table", filter_action="native", sort_action="native",
        page_size=25, style_cell={"textAlign": "left", "whiteSpace": "normal", "maxWidth": "520px"},
        markdown_options={"link_target": "_self"})
    return [html.H3(f"Runs in {data.store.root}"),
            html.P("Type in the row under a header to filter (e.g. 'optimal', '> 10')."), table]


def export(data: AppData, route: Route) -> list:
    ds = data.dataset(route.run)
    rows = [(n, ", ".join(v.dims), str(v.attrs.get("units", "")), str(v.attrs.get("long_name", "")))
            for n, v in ds.data_vars.items()]
    return [
        _title("Export", route),
        html.P("CSV: one variable in long format (a column per dimension, times UTC ISO 8601 "
               "with Z), written by the run store. PNG: every figure's camera button in its "
               "top-right toolbar downloads it."),
        html.Div([
            dcc.Dropdown(id="export-variable", options=list(ds.data_vars),
                         value=next(iter(ds.data_vars), None), clearable=False,
                         style={"width": "360px", "display": "inline-block"}),
            html.Button("Download CSV", id="export-button", style={"marginLeft": "12px"}),
        ]),
        html.Div(id="export-status"),
        _table(("variable", "dims", "units", "meaning"), rows, "variables"),
    ]


_BUILDERS: dict[str, Callable[[AppData, Route], list]] = {
    "overview": overview, "carbon": carbon, "air-quality": air_quality, "ev-storage": ev_storage,
    "network": network, "compare": compare, "runs": runs, "export": export,
}


def page(data: AppData, route: Route) -> list:
    """The body of the page ``route`` asks for (a message for an unknown page or empty store).

    Bodies are cached under the route and the versions of the runs they show, so a page is
    built once per run version; the Runs page, which follows the catalog, is built every time.
    """
    if route.page is None:
        return [message("There is no such page: choose one above.", "error")]
    if route.page == "runs":
        return runs(data, route)
    if route.run is None:
        return [message(f"No runs in the store {data.store.root}: make one with `gridopt run`.")]
    if route.page != "compare":
        route = route.with_runs(route.run, None)
    versions = tuple(data.version(r) for r in (route.run, route.other) if r)
    return _cached_page(data, route, versions)


@functools.lru_cache(maxsize=PAGE_CACHE_SIZE)
def _cached_page(data: AppData, route: Route, versions: tuple) -> list:
    return _BUILDERS[route.page](data, route)
