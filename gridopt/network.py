"""Grid models: load a pandapower net from a named source, check it, describe it.

Sources (``load_network``):

- ``pandapower:<name>``: a built-in of ``pandapower.networks`` (``case33bw``, ``case118``,
  ``mv_oberrhein``, ``example_simple``, ...); the ``create_*`` builders are also reachable by a
  short name, e.g. ``cigre_mv`` for ``create_cigre_network_mv``.
- ``simbench:<code>``: a SimBench grid, e.g. ``simbench:1-MV-urban--0-sw``.
- a path to a pandapower JSON file (``*.json``) or a MATPOWER case (``*.mat``; ``*.m`` needs
  the ``matpowercaseframes`` package). Relative paths resolve against ``base_dir``.

Besides the optimizer and the AC check this is the only module that imports pandapower; the
rest of gridopt sees the net through these functions.

Topology conventions (``check_network``, ``is_radial``): the graph has one node per in-service
bus and one edge per in-service line, two-winding transformer, impedance, DC line and closed
bus-bus switch; an open switch removes the branch it sits on. A three-winding transformer is a
star (one extra node joined to its three buses), not a triangle, so it makes no loop of its own.
"""

from __future__ import annotations

import difflib
import inspect
import json
import logging
from collections.abc import Callable
from functools import cache
from pathlib import Path

import networkx as nx
import pandas as pd
import pandapower as pp
import pandapower.networks as pn
import pandapower.topology as top
from pandapower.auxiliary import pandapowerNet

from gridopt.errors import NetworkError

__all__ = ["load_network", "check_network", "set_vm_limits", "network_summary", "is_radial"]

log = logging.getLogger(__name__)

# Tables whose in-service rows draw or inject power at a bus: a bus holding one of them must be
# supplied. (Shunts are left out: an unsupplied shunt draws nothing.)
_POWER_TABLES = ("load", "sgen", "gen", "storage", "motor", "ward", "xward",
                 "asymmetric_load", "asymmetric_sgen")
_SHOWN = 3  # how many elements an error message names before "and N more"


# --------------------------------------------------------------------------- loading


def load_network(source: str, base_dir: Path | None = None) -> pandapowerNet:
    """The pandapower net named by ``source`` (see the module docstring for the forms).

    ``net.name`` is set to ``source`` so that checks and results can name the grid.
    Raises NetworkError for an unknown built-in or SimBench code (with close matches), a
    missing or unreadable file, or an unsupported file type.
    """
    kind, _, name = source.partition(":")
    if kind == "pandapower" and name:
        net = _builtin_net(name)
    elif kind == "simbench" and name:
        net = _simbench_net(name)
    else:
        net = _file_net(source, base_dir)
    net.name = source
    return net


@cache
def _builtin_builders() -> dict[str, Callable[[], pandapowerNet]]:
    """Every grid builder of ``pandapower.networks`` that needs no argument, by name and alias.

    Only functions defined in ``pandapower.networks`` count (its namespace also re-exports
    helpers such as ``create_bus``); ``create_cigre_network_mv`` is also ``cigre_mv``.
    """
    builders = {}
    for name in dir(pn):
        func = getattr(pn, name)
        if name.startswith("_") or not callable(func):
            continue
        if not getattr(func, "__module__", "").startswith("pandapower.networks."):
            continue
        if _required_args(func):
            continue
        builders[name] = func
        if name.startswith("create_"):
            alias = name.removeprefix("create_").replace("_network", "").replace("network_", "")
            builders.setdefault(alias, func)
    return builders


def _required_args(func: Callable) -> list[str]:
    params = inspect.signature(func).parameters.values()
    return [p.name for p in params if p.default is p.empty and p.kind is p.POSITIONAL_OR_KEYWORD]


def _builtin_net(name: str) -> pandapowerNet:
    builders = _builtin_builders()
    if name not in builders:
        raise NetworkError(
            f"network 'pandapower:{name}': no such pandapower built-in{_close(name, builders)}"
        )
    return builders[name]()


def _simbench_net(code: str) -> pandapowerNet:
    import simbench

    codes = simbench.collect_all_simbench_codes()
    if code not in codes:
        raise NetworkError(f"network 'simbench:{code}': no such SimBench code{_close(code, codes)}")
    return simbench.get_simbench_net(code)


def _close(name: str, choices) -> str:
    """' (did you mean a, b?)' for the nearest choices, or '' when none is near."""
    near = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.6)
    return f" (did you mean {', '.join(near)}?)" if near else ""


def _file_net(source: str, base_dir: Path | None) -> pandapowerNet:
    path = Path(source).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    suffix = path.suffix.lower()
    if suffix not in (".json", ".m", ".mat"):
        raise NetworkError(
            f"network '{source}': source must be 'pandapower:<name>', 'simbench:<code>' or a "
            f".json, .m or .mat file (got suffix '{path.suffix}')"
        )
    if not path.is_file():
        raise NetworkError(f"network '{source}': file not found: {path}")
    if suffix == ".json":
        _check_pandapower_json(path)
    try:
        if suffix == ".json":
            return pp.from_json(str(path))
        from pandapower.converter.matpower import from_mpc

        return from_mpc(str(path))
    except NotImplementedError as exc:  # .m without matpowercaseframes
        raise NetworkError(f"{path}: cannot read a MATPOWER .m file ({exc})") from None
    except Exception as exc:  # the readers raise many types for a malformed file
        kind = "pandapower JSON" if suffix == ".json" else "MATPOWER case"
        raise NetworkError(
            f"{path}: cannot be read as a {kind} ({type(exc).__name__}: {exc})"
        ) from None


def _check_pandapower_json(path: Path) -> None:
    """NetworkError unless ``path`` holds a JSON document written by ``pandapower.to_json``."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise NetworkError(f"{path}: cannot be read as a pandapower JSON (not JSON: {exc})") from None
    if not (isinstance(doc, dict) and doc.get("_class") == "pandapowerNet"):
        raise NetworkError(
            f"{path}: cannot be read as a pandapower JSON (JSON, but not a net written by "
            "pandapower.to_json: no \"_class\": \"pandapowerNet\")"
        )


# --------------------------------------------------------------------------- checks


def check_network(net: pandapowerNet) -> None:
    """Raise NetworkError naming the first element that makes ``net`` unusable.

    Checks, over in-service elements: every bus reference names a bus of the net; buses
    ``vn_kv > 0``; lines ``length_km > 0``,
    ``x_ohm_per_km >= 0``, ``r_ohm_per_km`` or ``x_ohm_per_km > 0``, ``max_i_ka > 0``;
    transformers ``sn_mva > 0``, ``vk_percent > 0``; an in-service ext_grid or slack gen; and
    every bus holding an in-service load, generator or storage connected to a slack.

    A bus that is cut off but holds nothing (a spare busbar behind an open switch, common in
    SimBench's switch models) is harmless for dispatch: it is logged as a warning, not an error.
    Open switches are how SimBench and mv_oberrhein make meshed cable rings radial, so an open
    line switch is not an error either; only what it leaves unsupplied matters.
    """
    where = _where(net)
    _check_bus_references(net, where)
    _check_positive(net, where, "bus", ["vn_kv"])
    _check_lines(net, where)
    _check_positive(net, where, "trafo", ["sn_mva", "vk_percent"])
    if not _slack_buses(net):
        raise NetworkError(
            f"{where}: needs an in-service ext_grid or a gen with slack=True (got none)"
        )
    _check_supplied(net, where)


def _where(net: pandapowerNet) -> str:
    return f"network '{net.name}'" if net.name else "network"


def _in_service(net: pandapowerNet, table: str) -> pd.DataFrame:
    frame = net[table] if table in net else pd.DataFrame()
    if "in_service" not in frame:
        return frame
    return frame[frame["in_service"].astype(bool)]


def _label(net: pandapowerNet, table: str, idx) -> str:
    name = net[table].at[idx, "name"] if "name" in net[table] else None
    return f"{table} {idx} ('{name}')" if isinstance(name, str) and name else f"{table} {idx}"


def _first_bad(net, where: str, table: str, column: str, bad: pd.Series, expected: str) -> None:
    """Raise for the first row where ``bad`` holds; say how many more there are."""
    if not bad.any():
        return
    rows = bad.index[bad.to_numpy()]
    more = f" (and {len(rows) - 1} more)" if len(rows) > 1 else ""
    value = net[table].at[rows[0], column]
    raise NetworkError(
        f"{where}: {_label(net, table, rows[0])} {column} must be {expected} (got {value}){more}"
    )


def _check_positive(net, where: str, table: str, columns: list[str]) -> None:
    frame = _in_service(net, table)
    for column in columns:
        # NaN fails "> 0" too, which is wanted: a missing rating is not a rating.
        _first_bad(net, where, table, column, ~(frame[column] > 0), "> 0")


_BUS_COLUMNS = {
    "line": ("from_bus", "to_bus"),
    "trafo": ("hv_bus", "lv_bus"),
    "trafo3w": ("hv_bus", "mv_bus", "lv_bus"),
    "impedance": ("from_bus", "to_bus"),
    "dcline": ("from_bus", "to_bus"),
    "ext_grid": ("bus",),
    "shunt": ("bus",),
    **{table: ("bus",) for table in _POWER_TABLES},
}
"""Columns that hold a bus index, by table."""


def _check_bus_references(net, where: str) -> None:
    """Every in-service element sits at (or joins) buses that exist."""
    buses = net.bus.index
    for table, columns in _BUS_COLUMNS.items():
        frame = _in_service(net, table)
        for column in columns:
            if column in frame:
                _first_bad(net, where, table, column, ~frame[column].isin(buses),
                           "a bus of the network")


def _check_lines(net, where: str) -> None:
    lines = _in_service(net, "line")
    _check_positive(net, where, "line", ["length_km"])
    _first_bad(net, where, "line", "x_ohm_per_km", ~(lines["x_ohm_per_km"] >= 0), ">= 0")
    no_impedance = ~((lines["r_ohm_per_km"] > 0) | (lines["x_ohm_per_km"] > 0))
    _first_bad(net, where, "line", "r_ohm_per_km", no_impedance, "> 0 where x_ohm_per_km is 0")
    _check_positive(net, where, "line", ["max_i_ka"])


def _slack_buses(net: pandapowerNet) -> set[int]:
    buses = set(_in_service(net, "ext_grid")["bus"])
    gens = _in_service(net, "gen")
    if "slack" in gens:
        buses |= set(gens.loc[gens["slack"].fillna(False).astype(bool), "bus"])
    return buses & set(_in_service(net, "bus").index)


def _check_supplied(net: pandapowerNet, where: str) -> None:
    cut_off = _unsupplied_buses(net)
    if not cut_off:
        return
    holding = _buses_holding_power_elements(net) & cut_off
    empty = cut_off - holding
    if empty:
        log.warning(
            "%s: %d in-service bus(es) without load or generation are not connected to a slack: %s",
            where, len(empty), _bus_list(net, sorted(empty)),
        )
    if holding:
        raise NetworkError(
            f"{where}: {len(holding)} in-service bus(es) with load or generation are not "
            f"connected to a slack: {_bus_list(net, sorted(holding))}"
        )


def set_vm_limits(net: pandapowerNet, limits: dict[str, list[float]], *, where: str) -> None:
    """Replace the voltage limits (pu) of the buses named in ``limits`` (key: index or name)."""
    for key, (low, high) in limits.items():
        bus = _bus_by_key(net, key, where)
        net.bus.loc[bus, ["min_vm_pu", "max_vm_pu"]] = [low, high]


def _bus_by_key(net: pandapowerNet, key: str, where: str) -> int:
    if key.isdigit() and int(key) in net.bus.index:
        return int(key)
    named = net.bus.index[net.bus["name"] == key]
    if len(named) == 1:
        return int(named[0])
    found = "names more than one bus" if len(named) > 1 else "is neither a bus index nor a bus name"
    raise NetworkError(f"{where}: {key!r} {found} of the network")


def _bus_list(net: pandapowerNet, buses: list[int]) -> str:
    shown = ", ".join(_label(net, "bus", b) for b in buses[:_SHOWN])
    return shown + (f" and {len(buses) - _SHOWN} more" if len(buses) > _SHOWN else "")


def _buses_holding_power_elements(net: pandapowerNet) -> set[int]:
    buses: set[int] = set()
    for table in _POWER_TABLES:
        frame = _in_service(net, table)
        if len(frame):
            buses |= set(frame["bus"])
    return buses


def _unsupplied_buses(net: pandapowerNet) -> set[int]:
    graph = _branch_graph(net)
    slacks = _slack_buses(net)
    bus_ids = set(_in_service(net, "bus").index)
    cut_off: set[int] = set()
    for component in nx.connected_components(graph):
        if not component & slacks:
            cut_off |= component & bus_ids
    return cut_off


def _branch_graph(net: pandapowerNet) -> nx.MultiGraph:
    """The in-service branch multigraph (see the module docstring); trafo3w as a star."""
    graph = top.create_nxgraph(
        net, respect_switches=True, include_trafo3ws=False, multi=True, include_out_of_service=False
    )
    buses = set(graph.nodes)
    for idx, row in _in_service(net, "trafo3w").iterrows():
        star = ("trafo3w", idx)
        for side in ("hv_bus", "mv_bus", "lv_bus"):
            if row[side] in buses:
                graph.add_edge(star, row[side])
    return graph


# --------------------------------------------------------------------------- description


def is_radial(net: pandapowerNet) -> bool:
    """Whether the in-service branch graph is a forest (no loop, parallel branches included).

    Each connected part is a tree, so one slack per part makes every branch flow a fixed sum
    of downstream injections: the optimizer uses LinDistFlow when True and DC flow when False.
    Two parallel lines between the same buses count as a loop.
    """
    return nx.is_forest(_branch_graph(net))


def network_summary(net: pandapowerNet) -> dict:
    """Counts and totals of the in-service grid, as plain Python values (JSON-ready).

    Keys: ``name``, ``buses``, ``lines``, ``trafos``, ``trafo3ws``, ``switches_open``,
    ``ext_grids``, ``loads``, ``sgens_by_type``, ``gens_by_type``, ``storages``,
    ``voltage_levels_kv`` (ascending), ``load_p_mw`` and ``sgen_p_mw`` (sums of the rated
    ``p_mw`` column; ``scaling`` is ignored because built-ins such as mv_oberrhein use it for a
    load case, e.g. sgen scaling 0), ``unsupplied_buses`` and ``radial``.
    """
    def count(table: str) -> int:
        return len(_in_service(net, table))

    switch = net.switch if "switch" in net else pd.DataFrame(columns=["closed"])
    return {
        "name": net.name,
        "buses": count("bus"),
        "lines": count("line"),
        "trafos": count("trafo"),
        "trafo3ws": count("trafo3w"),
        "switches_open": int((~switch["closed"].astype(bool)).sum()),
        "ext_grids": count("ext_grid"),
        "loads": count("load"),
        "sgens_by_type": _count_by_type(net, "sgen"),
        "gens_by_type": _count_by_type(net, "gen"),
        "storages": count("storage"),
        "voltage_levels_kv": sorted(float(v) for v in _in_service(net, "bus")["vn_kv"].unique()),
        "load_p_mw": _rated_p_mw(net, "load"),
        "sgen_p_mw": _rated_p_mw(net, "sgen"),
        "unsupplied_buses": len(_unsupplied_buses(net)),
        "radial": is_radial(net),
    }


def _count_by_type(net: pandapowerNet, table: str) -> dict[str, int]:
    frame = _in_service(net, table)
    types = frame["type"] if "type" in frame else pd.Series("unspecified", index=frame.index)
    counts = types.fillna("unspecified").astype(str).value_counts()
    return {str(k): int(v) for k, v in counts.sort_index().items()}


def _rated_p_mw(net: pandapowerNet, table: str) -> float:
    return float(_in_service(net, table)["p_mw"].sum()) if table in net else 0.0
