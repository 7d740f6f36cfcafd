"""Figure builders: pure functions, a results dataset in, a plotly figure out.

Each builder reads only its arguments (no store, no globals that change) and assumes what it
draws is present: the pages check first (``gridopt.app.data``) and show "not in this run"
otherwise. Powers are MW (mean over the step, injection positive), energies MWh, emissions
tonnes; a rate per step is shown per hour (value / ``time_step_h``), so a downsampled dataset
(block means, ``attrs["plot_step_h"]``) draws on the same scale.
"""

from __future__ import annotations

import re
from collections import deque

import numpy as np
import plotly.graph_objects as go
import xarray as xr
from plotly.subplots import make_subplots

from gridopt.environment import CHINA_CATEGORIES, EPA_CATEGORIES, Category

__all__ = [
    "co2_trend",
    "intensity",
    "emissions_by_source",
    "dispatch_stack",
    "ev_by_bus",
    "storage_soc",
    "aqi",
    "network_strips",
    "network_graph",
    "compare_overlay",
    "violating_elements",
    "tree_layout",
    "VM_LIMITS_PU",
    "LOADING_LIMIT_PERCENT",
]

VM_LIMITS_PU = (0.95, 1.05)  # drawn for reference: gridopt's default when a bus sets none
LOADING_LIMIT_PERCENT = 100.0  # likewise for branches without max_loading_percent
VIOLATION_COLOR = "#d62728"
POLLUTANT_LABELS = {"co2": "CO2", "nox": "NOx", "so2": "SO2", "pm25": "PM2.5"}
LOADING_BINS = ((0.0, 50.0, "#2ca02c"), (50.0, 80.0, "#bcbd22"), (80.0, 100.0, "#ff7f0e"),
                (100.0, np.inf, VIOLATION_COLOR))
_AQI_CATEGORIES = {"aqi_china": ("China AQI (HJ 633-2012)", CHINA_CATEGORIES),
                   "aqi_epa": ("US AQI (EPA 2024)", EPA_CATEGORIES)}
_VIOLATION_ELEMENT = re.compile(r"^(bus|line|trafo) (\d+)\b")
_LAYOUT = {"template": "plotly_white", "margin": {"l": 60, "r": 20, "t": 50, "b": 60},
           "legend": {"orientation": "h", "y": -0.25}, "hovermode": "x unified"}


def _figure(title: str, ds: xr.Dataset | None = None) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title=title + _step_note(ds), **_LAYOUT)
    if ds is not None:
        fig.update_xaxes(title_text="time (UTC)")
    return fig


def _step_note(ds: xr.Dataset | None) -> str:
    """' (6 h means)' when the dataset was downsampled for drawing."""
    if ds is None:
        return ""
    step, plot_step = ds.attrs.get("time_step_h", 1.0), ds.attrs.get("plot_step_h", 0.0)
    return f" ({plot_step:g} h means)" if plot_step > step else ""


def _per_hour(ds: xr.Dataset, var: xr.DataArray) -> np.ndarray:
    """A per-step quantity (t, MWh) as a rate per hour."""
    return var.values / float(ds.attrs.get("time_step_h", 1.0))


def _total(ds: xr.Dataset, name: str) -> xr.DataArray:
    """``ds[name]`` summed over its element dimension, whichever it is (``ev_p_mw`` is per session
    or per EV bus); zeros when the run has no such element."""
    if name not in ds.data_vars:
        return xr.zeros_like(ds["time"], dtype=float)
    return ds[name].sum([dim for dim in ds[name].dims if dim != "time"])


def co2_trend(ds: xr.Dataset) -> go.Figure:
    """CO2 emission rate (t/h): grid import at the marginal and at the average intensity, plus
    local generation (``emissions_t`` source ``local``)."""
    fig = _figure("CO2 emission rate", ds)
    local = ds["emissions_t"].sel(pollutant="co2", source="local")
    for signal in ("marginal", "average"):
        total = ds[f"grid_co2_{signal}_t"] + local
        fig.add_scatter(x=ds["time"].values, y=_per_hour(ds, total), mode="lines",
                        name=f"{signal} grid signal + local")
    fig.update_yaxes(title_text="t CO2 / h")
    return fig


def intensity(ds: xr.Dataset, names: list[str]) -> go.Figure:
    """Grid carbon intensity over time, g/kWh (= t/MWh x 1000); several external grids averaged."""
    fig = _figure("Grid carbon intensity", ds)
    for name in names:
        var = ds[name]
        if "ext_grid" in var.dims:
            var = var.mean("ext_grid")
        label = name.removeprefix("ext_grid_co2_").removesuffix("t_per_mwh").strip("_") or "intensity"
        fig.add_scatter(x=ds["time"].values, y=var.values * 1000.0, mode="lines", name=label)
    fig.update_yaxes(title_text="g CO2 / kWh")
    return fig


def emissions_by_source(ds: xr.Dataset) -> go.Figure:
    """Emissions over the run (t) by pollutant and source, one panel per pollutant.

    Pass the full-resolution dataset: totals are sums over every step.
    """
    totals = ds["emissions_t"].sum("time")
    pollutants = [str(p) for p in totals["pollutant"].values]
    fig = make_subplots(rows=1, cols=len(pollutants),
                        subplot_titles=[POLLUTANT_LABELS.get(p, p) for p in pollutants])
    for col, pollutant in enumerate(pollutants, start=1):
        row = totals.sel(pollutant=pollutant)
        fig.add_bar(x=[str(s) for s in row["source"].values], y=row.values, row=1, col=col,
                    name=POLLUTANT_LABELS.get(pollutant, pollutant), showlegend=False,
                    texttemplate="%{y:.4~g} t", textposition="outside", cliponaxis=False)
        fig.update_yaxes(title_text="t" if col == 1 else None, row=1, col=col)
    fig.update_layout(title="Emissions over the run by source", **_LAYOUT)
    return fig


def dispatch_stack(ds: xr.Dataset) -> go.Figure:
    """Supply stacked by technology (MW, above zero) and flexible demand (below zero).

    Supply: grid import (net import where positive), thermal units (``gen``), renewables
    (``sgen``), battery discharge. Demand: EV charging, battery charging, export.
    """
    net_import = _total(ds, "ext_grid_import_mw")
    supply = {
        "grid import": net_import.clip(min=0),
        "thermal": _total(ds, "gen_p_mw"),
        "renewable": _total(ds, "sgen_p_mw"),
        "battery discharge": _total(ds, "storage_discharge_mw"),
    }
    demand = {
        "EV charging": _total(ds, "ev_p_mw"),
        "battery charge": _total(ds, "storage_charge_mw"),
        "export": (-net_import).clip(min=0),
    }
    fig = _figure("Dispatch by technology", ds)
    for group, parts, sign in (("supply", supply, 1.0), ("demand", demand, -1.0)):
        for name, var in parts.items():
            fig.add_scatter(x=ds["time"].values, y=sign * var.values, name=name,
                            stackgroup=group, mode="lines", line={"width": 0.5})
    fig.update_yaxes(title_text="MW (demand below zero)")
    return fig


def ev_by_bus(ds: xr.Dataset) -> go.Figure:
    """EV charging power (MW) at each bus, stacked: summed over the sessions at the bus (a
    per-session run) or as the run holds it (per ``ev_bus``: envelopes, day-ahead)."""
    power = ds["ev_p_mw"]
    by_bus = power.groupby(ds["ev_bus"]).sum() if "session" in power.dims else power
    fig = _figure("EV charging power by bus", ds)
    for bus in by_bus["ev_bus"].values:
        fig.add_scatter(x=ds["time"].values, y=by_bus.sel(ev_bus=bus).values,
                        name=f"bus {int(bus)}", stackgroup="ev", mode="lines", line={"width": 0.5})
    fig.update_yaxes(title_text="MW")
    return fig


def storage_soc(ds: xr.Dataset) -> go.Figure:
    """State of charge (MWh, end of step) of each battery."""
    fig = _figure("Battery state of charge", ds)
    soc = ds["storage_soc_mwh"]
    for unit in soc["storage"].values:
        fig.add_scatter(x=ds["time"].values, y=soc.sel(storage=unit).values, mode="lines",
                        name=f"storage {unit}")
    fig.update_yaxes(title_text="MWh")
    return fig


def aqi(ds: xr.Dataset, name: str) -> go.Figure:
    """AQI by station over ``ds[name]`` (``aqi_china`` or ``aqi_epa``) on its category colours."""
    title, categories = _AQI_CATEGORIES[name]
    fig = _figure(title + " by station", ds)
    var = ds[name]
    stations = var["station"].values if "station" in var.dims else [None]
    for station in stations:
        values = var.sel(station=station).values if station is not None else var.values
        fig.add_scatter(x=ds["time"].values, y=values, mode="lines",
                        name=str(station) if station is not None else "AQI")
    top = max(float(np.nanmax(var.values)) if np.isfinite(var.values).any() else 0.0, 100.0)
    _category_bands(fig, categories, top * 1.05)
    fig.update_yaxes(title_text="AQI", range=[0, top * 1.05])
    return fig


def _category_bands(fig: go.Figure, categories: tuple[Category, ...], top: float) -> None:
    edges = [c.low for c in categories[1:]] + [max(top, categories[-1].low + 1)]
    for category, upper in zip(categories, edges, strict=True):
        if category.low >= top:
            break
        fig.add_hrect(y0=category.low, y1=upper, fillcolor=category.color, opacity=0.18,
                      line_width=0, layer="below", annotation_text=category.name,
                      annotation_position="top left", annotation_font_size=10)


def violating_elements(ds: xr.Dataset) -> tuple[set[int], set[str]]:
    """Buses and branches (``"line:3"``) reported beyond their limits: by the AC check
    (``attrs["ac_violations"]``) or by the solve's findings (``attrs["explanation"]``, e.g. a
    voltage slack in use). Each line names its element first: ``bus 12 …`` / ``line 3 …``."""
    buses, branches = set(), set()
    lines = [*str(ds.attrs.get("ac_violations", "")).splitlines(),
             *str(ds.attrs.get("explanation", "")).splitlines()]
    for line in lines:
        match = _VIOLATION_ELEMENT.match(line)
        if match is None:
            continue
        table, index = match.groups()
        if table == "bus":
            buses.add(int(index))
        else:
            branches.add(f"{table}:{index}")
    return buses, branches


def _voltage(ds: xr.Dataset) -> xr.DataArray:
    return ds["ac_bus_vm_pu"] if "ac_bus_vm_pu" in ds else ds["bus_vm_pu"]


def network_strips(ds: xr.Dataset) -> go.Figure:
    """Buses by index with their lowest and highest voltage over the run (pu), and branches by
    label with their highest AC loading (%), elements reported beyond a limit in red
    (:func:`violating_elements`).

    Pass the full-resolution dataset: extremes are over every step. AC voltages are used when
    present, else the linear model's ``bus_vm_pu``; the loading panel needs the AC check.
    """
    vm = _voltage(ds)
    bad_buses, bad_branches = violating_elements(ds)
    has_loading = "ac_branch_loading_percent" in ds
    fig = make_subplots(rows=2 if has_loading else 1, cols=1, vertical_spacing=0.15,
                        subplot_titles=[f"bus voltage, {vm.attrs.get('long_name', vm.name)}"]
                        + (["branch loading (AC), highest over the run"] if has_loading else []))
    buses = vm["bus"].values
    low, high = vm.min("time").values, vm.max("time").values
    colors = [VIOLATION_COLOR if int(b) in bad_buses else "#1f77b4" for b in buses]
    fig.add_scatter(x=buses, y=low, mode="markers", name="lowest", marker={"color": colors},
                    error_y={"type": "data", "symmetric": False, "array": high - low,
                             "arrayminus": np.zeros_like(low), "thickness": 1, "width": 0},
                    customdata=high, hovertemplate="bus %{x}: %{y:.4f} to %{customdata:.4f} pu",
                    row=1, col=1)
    for limit in VM_LIMITS_PU:
        fig.add_hline(y=limit, line_dash="dash", line_color="grey", row=1, col=1,
                      annotation_text=f"default limit {limit:g} pu", annotation_font_size=10)
    fig.update_xaxes(title_text="bus (pandapower index)", row=1, col=1)
    fig.update_yaxes(title_text="pu", row=1, col=1)
    if has_loading:
        loading = ds["ac_branch_loading_percent"].max("time")
        loading = loading.isel(branch=_natural_order(loading["branch"].values))
        labels = [str(b) for b in loading["branch"].values]
        fig.add_bar(x=labels, y=loading.values, name="highest loading",
                    marker_color=[VIOLATION_COLOR if b in bad_branches else "#7f7f7f" for b in labels],
                    row=2, col=1)
        fig.add_hline(y=LOADING_LIMIT_PERCENT, line_dash="dash", line_color="grey", row=2, col=1,
                      annotation_text=f"default limit {LOADING_LIMIT_PERCENT:g} %",
                      annotation_font_size=10)
        fig.update_yaxes(title_text="%", row=2, col=1)
    fig.update_layout(title="Network: voltages and loadings (schematic by index)",
                      height=650 if has_loading else 400, showlegend=False,
                      **{**_LAYOUT, "hovermode": "closest"})
    return fig


def _natural_order(labels) -> list[int]:
    """Positions that sort branch labels ``"<table>:<index>"`` by table, then index number."""
    keys = [(str(b).partition(":")[0], int(str(b).partition(":")[2] or 0)) for b in labels]
    return sorted(range(len(keys)), key=keys.__getitem__)


def tree_layout(buses: list[int], ends: list[tuple[int, int]]) -> dict[int, tuple[float, float]]:
    """(x, y) of each bus: x the hop count from the root, y leaves in depth-first order and each
    parent centred over its children. The root of each connected part is its lowest bus index
    (the from/hv end of the first branch for the first part); meshed grids draw their spanning
    tree's positions."""
    neighbours: dict[int, list[int]] = {b: [] for b in buses}
    for a, b in ends:
        neighbours[a].append(b)
        neighbours[b].append(a)
    children, order = _spanning_tree(buses, neighbours, first=ends[0][0] if ends else None)
    pos: dict[int, tuple[float, float]] = {}
    next_leaf = 0.0
    for root, depth_of in order:
        for bus in _post_order(root, children):
            kids = children[bus]
            y = float(np.mean([pos[k][1] for k in kids])) if kids else next_leaf
            next_leaf += 0.0 if kids else 1.0
            pos[bus] = (float(depth_of[bus]), y)
    return pos


def _spanning_tree(buses, neighbours, first):
    """Breadth-first spanning trees: children of each bus and, per part, (root, depths)."""
    children: dict[int, list[int]] = {b: [] for b in buses}
    seen: set[int] = set()
    parts = []
    roots = ([first] if first is not None else []) + sorted(buses)
    for root in roots:
        if root in seen:
            continue
        seen.add(root)
        depth = {root: 0}
        queue = deque([root])
        while queue:
            bus = queue.popleft()
            for nxt in sorted(neighbours[bus]):
                if nxt not in seen:
                    seen.add(nxt)
                    depth[nxt] = depth[bus] + 1
                    children[bus].append(nxt)
                    queue.append(nxt)
        parts.append((root, depth))
    return children, parts


def _post_order(root: int, children: dict[int, list[int]]) -> list[int]:
    out, stack = [], [(root, False)]
    while stack:
        bus, done = stack.pop()
        if done:
            out.append(bus)
            continue
        stack.append((bus, True))
        stack.extend((k, False) for k in reversed(children[bus]))
    return out


def network_graph(ds: xr.Dataset) -> go.Figure:
    """The grid drawn from ``branch_from_bus`` / ``branch_to_bus``: buses coloured by their lowest
    voltage over the run (pu), branches by their highest AC loading (binned), elements reported
    beyond a limit (:func:`violating_elements`) ringed in red. Positions come from
    :func:`tree_layout`, not geodata."""
    vm = _voltage(ds)
    buses = [int(b) for b in vm["bus"].values]
    ends = list(zip(ds["branch_from_bus"].values.astype(int), ds["branch_to_bus"].values.astype(int),
                    strict=True))
    pos = tree_layout(buses, ends)
    bad_buses, bad_branches = violating_elements(ds)
    fig = _figure("Network: lowest voltage by bus, highest loading by branch")
    if "ac_branch_loading_percent" in ds:
        loading = ds["ac_branch_loading_percent"].max("time").values
        labels = [str(b) for b in ds["branch"].values]
        last = len(LOADING_BINS) - 1
        bins = [last if label in bad_branches else _loading_bin(value)
                for label, value in zip(labels, loading, strict=True)]
        for k, (lo, hi, color) in enumerate(LOADING_BINS):
            _add_edges(fig, [e for e, b in zip(ends, bins, strict=True) if b == k], pos, color,
                       f"loading {lo:g}-{hi:g} %")
        _add_edges(fig, [e for e, b in zip(ends, bins, strict=True) if b is None], pos,
                   "#c7c7c7", "no AC result")
    else:
        _add_edges(fig, ends, pos, "#7f7f7f", "branch")
    low = vm.min("time").values
    fig.add_scatter(
        x=[pos[b][0] for b in buses], y=[pos[b][1] for b in buses], mode="markers", name="bus",
        text=[f"bus {b}: lowest {v:.4f} pu" for b, v in zip(buses, low, strict=True)],
        hoverinfo="text",
        marker={"color": low, "colorscale": "RdYlBu", "cmin": VM_LIMITS_PU[0],
                "cmax": VM_LIMITS_PU[1], "size": 9, "colorbar": {"title": "pu"},
                "line": {"width": [3 if b in bad_buses else 0.5 for b in buses],
                         "color": [VIOLATION_COLOR if b in bad_buses else "#333" for b in buses]}})
    fig.update_xaxes(title_text="hops from the root bus", showgrid=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=600, hovermode="closest")
    return fig


def _loading_bin(value: float) -> int | None:
    """Position in ``LOADING_BINS`` of a loading (%), None for NaN (no AC result)."""
    if not np.isfinite(value):
        return None
    return next(k for k, (_, hi, _) in enumerate(LOADING_BINS) if value < hi)


def _add_edges(fig, ends, pos, color, name) -> None:
    if not ends:
        return
    xs, ys = [], []
    for a, b in ends:
        xs += [pos[a][0], pos[b][0], None]
        ys += [pos[a][1], pos[b][1], None]
    fig.add_scatter(x=xs, y=ys, mode="lines", line={"color": color, "width": 2}, name=name,
                    hoverinfo="skip")


def _hours(ds: xr.Dataset) -> np.ndarray:
    times = ds.indexes["time"]
    return ((times - times[0]) / np.timedelta64(1, "h")).to_numpy(float)


def compare_overlay(a: xr.Dataset, b: xr.Dataset, label_a: str, label_b: str) -> go.Figure:
    """Two runs overlaid on hours from each run's start: grid import (MW), CO2 rate at the
    marginal signal (t/h), renewable output (MW) and stored energy (MWh)."""
    rows = (("net grid import, MW", lambda d: _total(d, "ext_grid_import_mw").values),
            ("CO2 (marginal signal + local), t/h", _co2_rate),
            ("renewable output, MW", lambda d: _total(d, "sgen_p_mw").values),
            ("battery energy, MWh", lambda d: _total(d, "storage_soc_mwh").values))
    fig = make_subplots(rows=len(rows), cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=[r[0] for r in rows])
    for i, (_, get) in enumerate(rows, start=1):
        for ds, label, dash in ((a, label_a, "solid"), (b, label_b, "dot")):
            fig.add_scatter(x=_hours(ds), y=get(ds), mode="lines", name=label,
                            line={"dash": dash, "color": "#1f77b4" if dash == "solid" else "#ff7f0e"},
                            legendgroup=label, showlegend=i == 1, row=i, col=1)
    fig.update_xaxes(title_text="hours from the run's start", row=len(rows), col=1)
    fig.update_layout(title="Runs overlaid" + _step_note(a), height=900, **_LAYOUT)
    return fig


def _co2_rate(ds: xr.Dataset) -> np.ndarray:
    local = ds["emissions_t"].sel(pollutant="co2", source="local")
    return _per_hour(ds, ds["grid_co2_marginal_t"] + local)
