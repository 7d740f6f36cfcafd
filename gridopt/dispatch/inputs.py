"""Turn a pandapower net, the series and the options into plain numpy arrays, once.

Everything the formulation needs is computed here and nowhere else: the node list after closed
bus-bus switches merge buses, branch reactances in per unit of ``net.sn_mva`` and ratings in MW/MVA,
bus→unit index maps, per-step availability, prices and emission factors. The Pyomo rules then only
index these arrays (O(1) per rule).

Element rules: only in-service elements at in-service buses count; an open line (trafo) switch
takes the line (trafo) out; a branch whose two ends merge into one node is dropped. Loads and
sgens missing from the series keep their static ``p_mw``/``q_mvar`` (× ``scaling``) at every step.
Transformers follow pandapower's branch model: series impedance on the (tapped) lv winding, an
off-nominal ratio from the tap position and the rated voltages against the buses' ``vn_kv``,
magnetising as a shunt; their phase shifts are ignored (exact when every loop has zero net shift).

Time: ``series.time`` (naive UTC) defines the horizon; steps must be regular (a single step is
one hour). EV sessions are clipped to the horizon: a session still plugged in at the end must
deliver within the horizon only what it could not deliver afterwards at full power.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import xarray as xr
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from gridopt.dispatch.air_quality import AqCaps, read_aq_caps, read_aq_weight
from gridopt.errors import DataError, NetworkError
from gridopt.options import DispatchOptions, GenParams, StorageParams

__all__ = [
    "DispatchData",
    "Network",
    "Units",
    "Gens",
    "Sgens",
    "ExtGrids",
    "Storages",
    "EvSessions",
    "EvAggregates",
    "prepare",
    "ev_session_label",
    "ev_slots",
    "fill_ev_slots",
]

POLLUTANTS = ("co2", "nox", "so2", "pm25")


@dataclass(frozen=True)
class Network:
    """Nodes (merged buses) and branches, in per unit of ``base_mva``."""

    bus: np.ndarray  # in-service pandapower bus indices (the results' ``bus`` coordinate)
    node_of_bus: np.ndarray  # node position of each entry of ``bus``
    node_bus: np.ndarray  # representative (first) pandapower bus of each node
    node_label: list[str]  # "bus 12 (name)" for explanations
    branch: np.ndarray  # "line:17", "trafo:0"
    branch_label: list[str]  # "line 17 (MV1.101 Line 5)"
    from_node: np.ndarray  # from_bus / hv_bus node
    to_node: np.ndarray  # to_bus / lv_bus node
    r_pu: np.ndarray  # series resistance (pandapower's branch model: for a trafo, on the lv side)
    x_pu: np.ndarray  # series reactance
    ratio: np.ndarray  # off-nominal voltage ratio at the from (hv) end: 1 for lines, tap for trafos
    rating_mva: np.ndarray  # inf where the table gives no rating
    base_mva: float
    radial: bool  # no loop once switches are applied (a forest)
    ref_node: np.ndarray  # one angle reference per connected component
    root_node: np.ndarray  # nodes with an ext_grid (voltage set points for LinDistFlow)
    root_vm_pu: np.ndarray
    vm_min_pu: np.ndarray  # per node
    vm_max_pu: np.ndarray
    shunt_p_mw: np.ndarray  # per node, consumed at 1 pu (∝ v²): line conductance, trafo iron, shunts
    shunt_q_mvar: np.ndarray  # per node, consumed at 1 pu: negative for line charging and capacitors

    @property
    def n_node(self) -> int:
        return len(self.node_bus)

    @property
    def x_dc_pu(self) -> np.ndarray:
        """Reactance of the DC flow ``p = (θ_from - θ_to) / (x τ)``, as MATPOWER/pandapower pose it."""
        return self.x_pu * self.ratio


@dataclass(frozen=True)
class Units:
    """Elements of one pandapower table that take part, and the node each sits at."""

    index: np.ndarray  # pandapower index
    node: np.ndarray
    label: list[str]  # "gen 3 (name)"

    def __len__(self) -> int:
        return len(self.index)

    def at_node(self, n_node: int) -> list[list[int]]:
        """Unit positions at each node: the bus→unit map, built once."""
        out: list[list[int]] = [[] for _ in range(n_node)]
        for pos, node in enumerate(self.node):
            out[node].append(pos)
        return out


@dataclass(frozen=True)
class Gens(Units):
    p_min_mw: np.ndarray
    p_max_mw: np.ndarray
    ramp_up_mw_per_h: np.ndarray  # inf: unlimited
    ramp_down_mw_per_h: np.ndarray
    marginal_cost_per_mwh: np.ndarray
    ef_t_per_mwh: np.ndarray  # (G, 4) in POLLUTANTS order


@dataclass(frozen=True)
class Sgens(Units):
    p_avail_mw: np.ndarray  # (T, S)


@dataclass(frozen=True)
class ExtGrids(Units):
    p_min_mw: np.ndarray  # -export limit (-inf: unlimited)
    p_max_mw: np.ndarray  # import limit (inf: unlimited)
    vm_pu: np.ndarray


@dataclass(frozen=True)
class Storages(Units):
    charge_max_mw: np.ndarray
    discharge_max_mw: np.ndarray
    soc_min_mwh: np.ndarray
    soc_max_mwh: np.ndarray
    soc_initial_mwh: np.ndarray
    eta_charge: np.ndarray
    eta_discharge: np.ndarray
    keep_per_step: np.ndarray  # (1 - standing loss per h) ** dt_h
    cyclic: np.ndarray  # bool
    terminal_value_per_mwh: np.ndarray  # 0 where cyclic
    degradation_cost_per_mwh: np.ndarray


@dataclass(frozen=True)
class EvSessions(Units):
    """One EV per session; ``index`` holds the session ids."""

    bus: np.ndarray  # pandapower bus
    p_max_mw: np.ndarray  # (T, S): nominal power × fraction of the step plugged in
    v2g: np.ndarray  # bool
    energy_mwh: np.ndarray  # (S,) to deliver within the horizon: what cannot come after it at full power
    energy_max_mwh: np.ndarray  # (S,) at most: energy_mwh in one run; all the car needs in fill_ev_slots
    departure: np.ndarray  # datetime64 (NaT: an empty slot)

    def uncontrolled_mw(self, dt_h: float) -> np.ndarray:
        """(T, S) full power from arrival until the energy is delivered."""
        cap = self.p_max_mw * dt_h
        before = np.cumsum(cap, axis=0) - cap
        return np.clip(self.energy_mwh - before, 0.0, cap) / dt_h


@dataclass(frozen=True)
class EvAggregates(Units):
    """Sessions summed per node as an energy envelope; ``index`` holds the pandapower bus."""

    p_max_mw: np.ndarray  # (T, K) Σ of the plugged sessions' power
    e_early_mwh: np.ndarray  # (T, K) cumulative energy at the end of step t, all at full power asap
    e_late_mwh: np.ndarray  # (T, K) cumulative energy that must be in by the end of step t
    shortfall_mwh: np.ndarray  # (K,) requested but impossible within the plugged-in time
    n_sessions: np.ndarray
    uncontrolled: np.ndarray  # (T, K) Σ of the sessions' uncontrolled profiles


@dataclass(frozen=True)
class DispatchData:
    """Everything the formulation reads, as numpy arrays."""

    time: pd.DatetimeIndex
    dt_h: float
    network: Network
    formulation: str  # "dc" or "lindistflow"
    load_p_mw: np.ndarray  # (T, N) per node, load convention
    load_q_mvar: np.ndarray  # (T, N)
    gen: Gens
    sgen: Sgens
    ext_grid: ExtGrids
    storage: Storages
    ev: EvSessions | EvAggregates | None
    price_per_mwh: np.ndarray  # (T,) ext_grid energy price
    co2_marginal_t_per_mwh: np.ndarray  # (T,)
    co2_average_t_per_mwh: np.ndarray  # (T,)
    aq_weight: np.ndarray  # (T, G) on the units' pollutant damage costs
    options: DispatchOptions
    aq_cap: AqCaps | None = None  # air-quality caps by zone (gridopt.dispatch.air_quality)

    @property
    def n_time(self) -> int:
        return len(self.time)

    @property
    def co2_priced_t_per_mwh(self) -> np.ndarray:
        """The grid CO2 intensity that prices decisions (``options.co2_signal``)."""
        if self.options.co2_signal == "average":
            return self.co2_average_t_per_mwh
        return self.co2_marginal_t_per_mwh


def prepare(
    net, series: xr.Dataset, options: DispatchOptions, ev_sessions: xr.Dataset | EvSessions | None = None
) -> DispatchData:
    """Validate the inputs and return the arrays of one dispatch problem. ``ev_sessions``: the
    sessions' dataset, or sessions already laid out over ``series.time`` (``fill_ev_slots``),
    taken as they are."""
    time, dt_h = _time_axis(series)
    network = _network(net, options)
    formulation = _formulation(network, options)
    node_of = dict(zip(network.bus.tolist(), network.node_of_bus.tolist()))
    load_p, load_q = _loads(net, series, node_of, network.n_node, len(time))
    ev = ev_sessions if isinstance(ev_sessions, EvSessions) else None
    if ev is None and ev_sessions is not None and ev_sessions.sizes.get("session", 0):
        sessions = _ev_sessions(ev_sessions, node_of, time, dt_h)
        if options.ev_formulation == "session":
            ev = _per_session(sessions, len(time))
        else:
            ev = _aggregate(sessions, len(time), dt_h)
    gen = _gens(net, node_of, options)
    return DispatchData(
        time=time,
        dt_h=dt_h,
        network=network,
        formulation=formulation,
        load_p_mw=load_p,
        load_q_mvar=load_q,
        gen=gen,
        sgen=_sgens(net, series, node_of, len(time)),
        ext_grid=_ext_grids(net, node_of, options),
        storage=_storages(net, node_of, options, dt_h),
        ev=ev,
        price_per_mwh=_ext_grid_price(net, series, len(time)),
        co2_marginal_t_per_mwh=_signal(series, "ext_grid_co2_marginal_t_per_mwh", 0.0, len(time)),
        co2_average_t_per_mwh=_signal(series, "ext_grid_co2_average_t_per_mwh", 0.0, len(time)),
        aq_weight=read_aq_weight(series, gen.index),
        options=options,
        aq_cap=read_aq_caps(series, gen.index, POLLUTANTS),
    )


# ---------------------------------------------------------------- time and series


def _time_axis(series: xr.Dataset) -> tuple[pd.DatetimeIndex, float]:
    if "time" not in series.coords:
        raise DataError("series: coordinate 'time' is missing")
    time = pd.DatetimeIndex(series.indexes["time"])
    if time.tz is not None:
        raise DataError("series: time must be naive UTC (got a timezone-aware index)")
    if len(time) == 0:
        raise DataError("series: time must have at least one step (got none)")
    if len(time) == 1:
        return time, 1.0
    steps = np.unique(np.diff(time.values).astype("timedelta64[s]").astype(float))
    if len(steps) != 1 or steps[0] <= 0:
        raise DataError(f"series: time steps must be regular and increasing (got {time[:3]}...)")
    return time, float(steps[0]) / 3600.0


def _check_finite(values: np.ndarray, name: str, labels, times: pd.DatetimeIndex | None = None):
    bad = ~np.isfinite(values)
    if bad.any():
        where = np.argwhere(bad)[0]
        at = f" at {times[where[0]]}" if times is not None and values.ndim else ""
        elem = f" for {labels[where[-1]]}" if labels is not None and values.ndim == 2 else ""
        raise DataError(f"series: {name} must be finite (got NaN{elem}{at})")


def _signal(series: xr.Dataset, name: str, default: float, n_time: int) -> np.ndarray:
    """A (time,) series, or ``default`` at every step when absent."""
    if name not in series:
        return np.full(n_time, default)
    var = series[name]
    if var.dims != ("time",):
        raise DataError(f"series: {name} must have dims ('time',) (got {var.dims})")
    values = var.values.astype(float)
    _check_finite(values, name, None, pd.DatetimeIndex(series.indexes["time"]))
    return values


def _per_element(
    series: xr.Dataset, name: str, dim: str, index: np.ndarray, static: np.ndarray
) -> np.ndarray:
    """(T, E) values of ``name`` for elements ``index``; elements absent from it keep ``static``."""
    n_time = series.sizes["time"]
    out = np.broadcast_to(static, (n_time, len(index))).astype(float).copy()
    if name not in series or not len(index):
        return out
    var = series[name]
    if set(var.dims) != {"time", dim}:
        raise DataError(f"series: {name} must have dims ('time', '{dim}') (got {var.dims})")
    have = pd.Index(var.indexes[dim])
    pos = have.get_indexer(index)
    found = pos >= 0
    values = var.transpose("time", dim).values.astype(float)[:, pos[found]]
    _check_finite(values, name, [f"{dim} {i}" for i in index[found]], series.indexes["time"])
    out[:, found] = values
    return out


# ---------------------------------------------------------------- network


def _label(kind: str, idx, name) -> str:
    return f"{kind} {idx} ({name})" if isinstance(name, str) and name else f"{kind} {idx}"


def _col(df: pd.DataFrame, name: str, default: float) -> np.ndarray:
    """A float column, ``default`` where it is missing or NaN."""
    if name not in df:
        return np.full(len(df), default, dtype=float)
    return df[name].astype(float).fillna(default).to_numpy()


def _network(net, options: DispatchOptions) -> Network:
    buses = net.bus[net.bus.in_service.astype(bool)]
    bus = buses.index.to_numpy()
    if not len(bus):
        raise NetworkError("net: bus table must have an in-service bus (got none)")
    pos_of = pd.Series(np.arange(len(bus)), index=bus)
    node_of_bus = _merge_switched(net, pos_of)
    n_node = node_of_bus.max() + 1
    first = np.unique(node_of_bus, return_index=True)[1]
    node_bus = bus[first]
    node_label = [_label("bus", b, net.bus.at[b, "name"]) for b in node_bus]
    vm_min = _node_limit(buses, "min_vm_pu", options.vm_min_pu, node_of_bus, n_node, np.maximum)
    vm_max = _node_limit(buses, "max_vm_pu", options.vm_max_pu, node_of_bus, n_node, np.minimum)
    node_of = pd.Series(node_of_bus, index=bus)
    br = _branches(net, node_of)
    n_comp, comp = connected_components(
        coo_matrix((np.ones(len(br["f"])), (br["f"], br["t"])), shape=(n_node, n_node)),
        directed=False,
    )
    ext = net.ext_grid[net.ext_grid.in_service.astype(bool) & net.ext_grid.bus.isin(bus)]
    root = node_of[ext.bus].to_numpy()
    ref = _references(comp, n_comp, root)
    shunt_p, shunt_q = _shunts(net, node_of, br, n_node)
    return Network(
        bus=bus,
        node_of_bus=node_of_bus,
        node_bus=node_bus,
        node_label=node_label,
        branch=np.array(br["name"], dtype=object),
        branch_label=br["label"],
        from_node=br["f"],
        to_node=br["t"],
        r_pu=br["r"],
        x_pu=br["x"],
        ratio=br["ratio"],
        rating_mva=br["rating"],
        base_mva=float(net.sn_mva),
        radial=len(br["f"]) == n_node - n_comp,
        ref_node=ref,
        root_node=root,
        root_vm_pu=_col(ext, "vm_pu", 1.0),
        vm_min_pu=vm_min,
        vm_max_pu=vm_max,
        shunt_p_mw=shunt_p,
        shunt_q_mvar=shunt_q,
    )


def _shunts(net, node_of: pd.Series, br: dict, n_node: int) -> tuple[np.ndarray, np.ndarray]:
    """Shunt P and Q consumed at each node at 1 pu: half of each branch's at either end, plus the
    in-service ``net.shunt`` rows (``p_mw``, ``q_mvar`` × ``step`` at the shunt's ``vn_kv``)."""
    p = np.zeros(n_node)
    q = np.zeros(n_node)
    for end in ("f", "t"):
        np.add.at(p, br[end], br["shunt_p"] / 2)
        np.add.at(q, br[end], br["shunt_q"] / 2)
    sh = _active(net.shunt, dict.fromkeys(node_of.index)) if "shunt" in net else []
    if len(sh):
        scale = _col(sh, "step", 1.0) * (net.bus.vn_kv[sh.bus].to_numpy() / _col(sh, "vn_kv", np.nan)) ** 2
        scale = np.nan_to_num(scale, nan=_col(sh, "step", 1.0))  # no vn_kv: rated at the bus voltage
        np.add.at(p, node_of[sh.bus].to_numpy(), _col(sh, "p_mw", 0.0) * scale)
        np.add.at(q, node_of[sh.bus].to_numpy(), _col(sh, "q_mvar", 0.0) * scale)
    return p, q


def _merge_switched(net, pos_of: pd.Series) -> np.ndarray:
    """Node number of each in-service bus; closed bus-bus switches merge buses."""
    sw = net.switch
    closed = sw[(sw.et == "b") & sw.closed.astype(bool)]
    closed = closed[closed.bus.isin(pos_of.index) & closed.element.isin(pos_of.index)]
    n = len(pos_of)
    graph = coo_matrix(
        (np.ones(len(closed)), (pos_of[closed.bus].to_numpy(), pos_of[closed.element].to_numpy())),
        shape=(n, n),
    )
    _, labels = connected_components(graph, directed=False)
    # renumber so nodes follow the order of their first bus
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))
    return order[inverse]


def _node_limit(buses, column, default, node_of_bus, n_node, combine) -> np.ndarray:
    values = _col(buses, column, default)
    out = np.full(n_node, -np.inf if combine is np.maximum else np.inf)
    combine.at(out, node_of_bus, values)
    return out


def _open_switched(net, et: str) -> set:
    sw = net.switch
    return set(sw.element[(sw.et == et) & ~sw.closed.astype(bool)].tolist())


def _branches(net, node_of: pd.Series) -> dict:
    """Lines and trafos that carry flow: names, end nodes, r and x in pu, ratings in MVA."""
    base = float(net.sn_mva)
    vn = net.bus.vn_kv
    parts = []
    line = net.line[net.line.in_service.astype(bool)]
    line = line[
        line.from_bus.isin(node_of.index)
        & line.to_bus.isin(node_of.index)
        & ~line.index.isin(_open_switched(net, "l"))
    ]
    if len(line):
        vn_from = vn[line.from_bus].to_numpy()
        z_base = vn_from**2 / base
        par = _col(line, "parallel", 1.0)
        length = line.length_km.to_numpy(float)
        rating = (
            np.sqrt(3)
            * vn[line.from_bus].to_numpy()
            * _col(line, "max_i_ka", np.inf)
            * _col(line, "df", 1.0)
            * par
            * _col(line, "max_loading_percent", 100.0)
            / 100.0
        )
        parts.append(
            dict(
                kind="line",
                idx=line.index.to_numpy(),
                names=line["name"].tolist(),
                f=node_of[line.from_bus].to_numpy(),
                t=node_of[line.to_bus].to_numpy(),
                r=line.r_ohm_per_km.to_numpy(float) * length / par / z_base,
                x=line.x_ohm_per_km.to_numpy(float) * length / par / z_base,
                ratio=np.ones(len(line)),
                # conductance and charging at 1 pu, MW and Mvar consumed (charging is negative)
                shunt_p=_col(line, "g_us_per_km", 0.0) * 1e-6 * length * par * vn_from**2,
                shunt_q=-2 * np.pi * float(net.f_hz) * _col(line, "c_nf_per_km", 0.0) * 1e-9 * length * par * vn_from**2,
                rating=rating,
            )
        )
    trafo = net.trafo[net.trafo.in_service.astype(bool)]
    trafo = trafo[
        trafo.hv_bus.isin(node_of.index)
        & trafo.lv_bus.isin(node_of.index)
        & ~trafo.index.isin(_open_switched(net, "t"))
    ]
    if len(trafo):
        sn = trafo.sn_mva.to_numpy(float)
        par = _col(trafo, "parallel", 1.0)
        vn_hv, vn_lv = _tapped_voltages(trafo)
        # pandapower's series impedance: on the (tapped) lv winding voltage, referred to the lv
        # bus voltage and the system base
        scale = (vn_lv / vn[trafo.lv_bus].to_numpy()) ** 2 * base / sn / par
        vk = trafo.vk_percent.to_numpy(float) / 100.0
        vkr = trafo.vkr_percent.to_numpy(float) / 100.0
        iron_mw = _col(trafo, "pfe_kw", 0.0) / 1000
        no_load_mva = _col(trafo, "i0_percent", 0.0) / 100 * sn
        parts.append(
            dict(
                kind="trafo",
                idx=trafo.index.to_numpy(),
                names=trafo["name"].tolist(),
                f=node_of[trafo.hv_bus].to_numpy(),
                t=node_of[trafo.lv_bus].to_numpy(),
                r=vkr * scale,
                x=np.sqrt(np.maximum(vk**2 - vkr**2, 0.0)) * scale,
                ratio=(vn_hv / vn_lv) / (vn[trafo.hv_bus].to_numpy() / vn[trafo.lv_bus].to_numpy()),
                # magnetising at 1 pu: iron losses and no-load reactive power (MW, Mvar consumed)
                shunt_p=iron_mw * par,
                shunt_q=np.sqrt(np.maximum(no_load_mva**2 - iron_mw**2, 0.0)) * par,
                rating=sn * par * _col(trafo, "max_loading_percent", 100.0) / 100.0,
            )
        )
    keys = ("f", "t", "r", "x", "ratio", "rating", "shunt_p", "shunt_q")
    out = dict(name=[], label=[], **{key: [] for key in keys})
    for p in parts:
        keep = p["f"] != p["t"]  # both ends merged into one node: no flow
        out["name"] += [f"{p['kind']}:{i}" for i in p["idx"][keep]]
        out["label"] += [
            _label(p["kind"], i, n) for i, n, k in zip(p["idx"], p["names"], keep) if k
        ]
        for key in keys:
            out[key].append(p[key][keep])
    for key in keys:
        out[key] = np.concatenate(out[key]) if out[key] else np.zeros(0)
    out["f"] = out["f"].astype(int)
    out["t"] = out["t"].astype(int)
    bad = np.flatnonzero(~(out["rating"] > 0))
    if len(bad):
        raise NetworkError(f"net: {out['label'][bad[0]]} must have a positive rating (got {out['rating'][bad[0]]} MVA)")
    bad = np.flatnonzero(~(out["x"] > 0))
    if len(bad):
        raise NetworkError(f"net: {out['label'][bad[0]]} must have a positive reactance (got {out['x'][bad[0]]})")
    return out


def _tapped_voltages(trafo: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Winding voltages (kV) of each transformer at its tap position, as pandapower 3 sets them.

    A tap acts where ``tap_changer_type`` is "Ratio" or "Symmetrical" and ``tap_pos`` is given: the
    winding on ``tap_side`` is scaled by ``|1 + s e^(jα)|`` with ``s = (tap_pos - tap_neutral) ×
    tap_step_percent / 100`` and ``α = tap_step_degree`` (0 when unset). The angle the tap adds, and
    "Ideal" (phase-shifting) and tabular taps, are ignored like every phase shift here.
    """
    vn_hv = trafo.vn_hv_kv.to_numpy(float)
    vn_lv = trafo.vn_lv_kv.to_numpy(float)
    if "tap_changer_type" not in trafo:
        return vn_hv, vn_lv
    steps = (_col(trafo, "tap_pos", np.nan) - _col(trafo, "tap_neutral", 0.0)) * _col(
        trafo, "tap_step_percent", 0.0
    ) / 100.0
    angle = np.deg2rad(_col(trafo, "tap_step_degree", 0.0))
    factor = np.abs(1.0 + steps * np.exp(1j * angle))
    acts = trafo.tap_changer_type.isin(["Ratio", "Symmetrical"]).to_numpy() & np.isfinite(factor)
    side = trafo.get("tap_side", pd.Series("hv", index=trafo.index)).to_numpy()
    vn_hv = np.where(acts & (side == "hv"), vn_hv * factor, vn_hv)
    vn_lv = np.where(acts & (side == "lv"), vn_lv * factor, vn_lv)
    return vn_hv, vn_lv


def _references(comp: np.ndarray, n_comp: int, root: np.ndarray) -> np.ndarray:
    """One reference node per connected component: its first ext_grid, else its first node."""
    ref = np.full(n_comp, -1)
    for node in root[::-1]:
        ref[comp[node]] = node
    for c in np.flatnonzero(ref < 0):
        ref[c] = np.flatnonzero(comp == c)[0]
    return np.sort(ref)


def _formulation(network: Network, options: DispatchOptions) -> str:
    if options.network != "auto":
        return options.network
    return "lindistflow" if network.radial else "dc"


# ---------------------------------------------------------------- units


def _active(table: pd.DataFrame, node_of: dict) -> pd.DataFrame:
    if not len(table):
        return table
    keep = table.in_service.astype(bool) & table.bus.isin(list(node_of))
    return table[keep]


def _units(table: pd.DataFrame, kind: str, node_of: dict) -> dict:
    return dict(
        index=table.index.to_numpy(),
        node=np.array([node_of[b] for b in table.bus], dtype=int),
        label=[_label(kind, i, n) for i, n in zip(table.index, table.get("name", [None] * len(table)))],
    )


def _loads(net, series, node_of, n_node, n_time) -> tuple[np.ndarray, np.ndarray]:
    load = _active(net.load, node_of)
    units = _units(load, "load", node_of)
    scaling = _col(load, "scaling", 1.0)
    p = _per_element(series, "load_p_mw", "load", units["index"], _col(load, "p_mw", 0.0) * scaling)
    q = _per_element(series, "load_q_mvar", "load", units["index"], _col(load, "q_mvar", 0.0) * scaling)
    return _to_nodes(p, units["node"], n_node), _to_nodes(q, units["node"], n_node)


def _to_nodes(values: np.ndarray, node: np.ndarray, n_node: int) -> np.ndarray:
    out = np.zeros((values.shape[0], n_node))
    np.add.at(out.T, node, values.T)
    return out


def _poly_cost(net, et: str) -> pd.Series:
    if "poly_cost" not in net or not len(net.poly_cost):
        return pd.Series(dtype=float)
    pc = net.poly_cost[net.poly_cost.et == et]
    return pd.Series(pc.cp1_eur_per_mw.to_numpy(float), index=pc.element.to_numpy())


def _params(per_element: dict, default, index: np.ndarray, kind: str, table: pd.DataFrame):
    unknown = set(per_element) - set(table.index)
    if unknown:
        raise NetworkError(
            f"options: {kind} {sorted(unknown)[0]} must be an element of net.{kind} "
            f"(got no such index)"
        )
    return [per_element.get(int(i), default) for i in index]


def _gens(net, node_of, options: DispatchOptions) -> Gens:
    gen = _active(net.gen, node_of)
    units = _units(gen, "gen", node_of)
    params: list[GenParams] = _params(options.gens, options.gen_default, units["index"], "gen", net.gen)
    p_fixed = _col(gen, "p_mw", 0.0) * _col(gen, "scaling", 1.0)
    controllable = (
        gen.controllable.fillna(True).astype(bool).to_numpy()
        if "controllable" in gen
        else np.ones(len(gen), bool)
    )
    p_min = np.where(controllable, _col(gen, "min_p_mw", 0.0), p_fixed)
    p_max = np.where(controllable, np.nan_to_num(_col(gen, "max_p_mw", np.nan), nan=p_fixed), p_fixed)
    for i in np.flatnonzero(p_min > p_max):
        raise NetworkError(
            f"net: {units['label'][i]} min_p_mw must not exceed max_p_mw (got {p_min[i]} > {p_max[i]})"
        )
    poly = _poly_cost(net, "gen")
    cost = np.array(
        [
            p.marginal_cost_per_mwh
            if p.marginal_cost_per_mwh is not None
            else poly.get(i, options.gen_default.marginal_cost_per_mwh or 0.0)
            for i, p in zip(units["index"], params)
        ],
        dtype=float,
    )
    return Gens(
        **units,
        p_min_mw=p_min,
        p_max_mw=p_max,
        ramp_up_mw_per_h=np.array([p.ramp_up_mw_per_h or np.inf for p in params]),
        ramp_down_mw_per_h=np.array([p.ramp_down_mw_per_h or np.inf for p in params]),
        marginal_cost_per_mwh=cost,
        ef_t_per_mwh=np.array(
            [[getattr(p, f"{x}_t_per_mwh") for x in POLLUTANTS] for p in params], dtype=float
        ).reshape(len(params), len(POLLUTANTS)),
    )


def _sgens(net, series, node_of, n_time) -> Sgens:
    sgen = _active(net.sgen, node_of)
    units = _units(sgen, "sgen", node_of)
    static = _col(sgen, "p_mw", 0.0) * _col(sgen, "scaling", 1.0)
    avail = _per_element(series, "sgen_p_max_mw", "sgen", units["index"], static)
    if (avail < 0).any():
        t, s = np.argwhere(avail < 0)[0]
        raise DataError(
            f"series: sgen_p_max_mw must be >= 0 (got {avail[t, s]} for sgen {units['index'][s]} "
            f"at {series.indexes['time'][t]})"
        )
    return Sgens(**units, p_avail_mw=avail)


def _ext_grids(net, node_of, options: DispatchOptions) -> ExtGrids:
    ext = _active(net.ext_grid, node_of)
    units = _units(ext, "ext_grid", node_of)
    p_max = _col(ext, "max_p_mw", np.inf)
    p_min = _col(ext, "min_p_mw", -np.inf)
    if options.ext_grid_import_max_mw is not None:
        p_max = np.full(len(ext), options.ext_grid_import_max_mw)
    if options.ext_grid_export_max_mw is not None:
        p_min = np.full(len(ext), -options.ext_grid_export_max_mw)
    return ExtGrids(**units, p_min_mw=p_min, p_max_mw=p_max, vm_pu=_col(ext, "vm_pu", 1.0))


def _ext_grid_price(net, series, n_time) -> np.ndarray:
    name = "ext_grid_price_per_mwh"
    if name in series:
        return _signal(series, name, 0.0, n_time)
    poly = _poly_cost(net, "ext_grid")
    active = net.ext_grid.index[net.ext_grid.in_service.astype(bool)]
    if len(active) and active[0] in poly.index:
        return np.full(n_time, poly[active[0]])
    if not len(active):
        return np.zeros(n_time)
    raise DataError(f"series: {name} is missing (and net.poly_cost has no ext_grid cost)")


def _storages(net, node_of, options: DispatchOptions, dt_h: float) -> Storages:
    st = _active(net.storage, node_of)
    units = _units(st, "storage", node_of)
    params: list[StorageParams] = _params(
        options.storage, options.storage_default, units["index"], "storage", net.storage
    )
    sn = _col(st, "sn_mva", np.nan)
    charge = _pick([p.charge_max_mw for p in params], _col(st, "max_p_mw", np.nan), sn)
    discharge = _pick([p.discharge_max_mw for p in params], -_col(st, "min_p_mw", np.nan), sn)
    e_min = _pick([p.soc_min_mwh for p in params], _col(st, "min_e_mwh", 0.0))
    e_max = _pick([p.soc_max_mwh for p in params], _col(st, "max_e_mwh", np.nan))
    e0 = _pick([p.initial_soc_mwh for p in params], _col(st, "soc_percent", np.nan) / 100 * e_max)
    for name, values in (("charge_max_mw", charge), ("discharge_max_mw", discharge), ("soc_max_mwh", e_max), ("initial_soc_mwh", e0)):
        for i in np.flatnonzero(~np.isfinite(values)):
            raise NetworkError(
                f"net: {units['label'][i]} needs {name} (set it in the storage options or the net's table)"
            )
    for i in np.flatnonzero((e0 < e_min - 1e-9) | (e0 > e_max + 1e-9) | (e_min > e_max)):
        raise NetworkError(
            f"net: {units['label'][i]} initial SOC must lie within its bounds "
            f"(got {e0[i]} MWh outside [{e_min[i]}, {e_max[i]}])"
        )
    cyclic = np.array([p.terminal == "cyclic" for p in params], dtype=bool)
    return Storages(
        **units,
        charge_max_mw=charge,
        discharge_max_mw=discharge,
        soc_min_mwh=e_min,
        soc_max_mwh=e_max,
        soc_initial_mwh=e0,
        eta_charge=np.array([p.charge_efficiency for p in params], dtype=float),
        eta_discharge=np.array([p.discharge_efficiency for p in params], dtype=float),
        keep_per_step=np.array([(1 - p.standing_loss_per_h) ** dt_h for p in params], dtype=float),
        cyclic=cyclic,
        terminal_value_per_mwh=np.array(
            [0.0 if c else p.terminal_value_per_mwh for c, p in zip(cyclic, params)], dtype=float
        ),
        degradation_cost_per_mwh=np.array([p.degradation_cost_per_mwh for p in params], dtype=float),
    )


def _pick(option_values: list, *fallbacks: np.ndarray) -> np.ndarray:
    """The option where given, else the first finite fallback (NaN if none)."""
    out = np.array([np.nan if v is None else v for v in option_values], dtype=float)
    for fb in fallbacks:
        out = np.where(np.isnan(out), fb, out)
    return out


# ---------------------------------------------------------------- EV sessions

_EV_VARS = ("ev_bus", "ev_arrival_time", "ev_departure_time", "ev_energy_mwh", "ev_p_max_mw")


@dataclass(frozen=True)
class _Sessions:
    """Validated sessions and when they are plugged in, as (step, session) pairs grouped by
    session, steps increasing: only the steps a session overlaps, never a dense (T, S) array."""

    ids: pd.Index
    bus: np.ndarray
    node: np.ndarray
    departure: np.ndarray  # datetime64[ns]
    p_max_mw: np.ndarray  # (S,) nominal
    v2g: np.ndarray
    energy_mwh: np.ndarray  # (S,) to deliver within the horizon
    session: np.ndarray  # (P,) session of each pair
    step: np.ndarray  # (P,) step of each pair
    plugged: np.ndarray  # (P,) fraction of the step plugged in
    last: np.ndarray  # (S,) last step of each session's window (-1: none)

    def cap_mwh(self, dt_h: float) -> np.ndarray:
        """(P,) energy each pair's step can take at full power."""
        return self.p_max_mw[self.session] * self.plugged * dt_h

    def cumulative(self, values: np.ndarray) -> np.ndarray:
        """(P,) running sum of ``values`` within each session's window."""
        total = np.cumsum(values)
        before = np.concatenate([[0.0], total])[np.searchsorted(self.session, self.session, "left")]
        return total - before


def _ev_sessions(ds: xr.Dataset, node_of: dict, time: pd.DatetimeIndex, dt_h: float) -> _Sessions:
    for name in _EV_VARS:
        if name not in ds:
            raise DataError(f"ev_sessions: variable {name!r} is missing")
    ids = ds.indexes["session"] if "session" in ds.indexes else pd.RangeIndex(ds.sizes["session"])
    bus = ds.ev_bus.values.astype(int)
    arrival = ds.ev_arrival_time.values.astype("datetime64[ns]")
    departure = ds.ev_departure_time.values.astype("datetime64[ns]")
    energy = ds.ev_energy_mwh.values.astype(float)
    p_max = ds.ev_p_max_mw.values.astype(float)
    v2g = ds.ev_v2g.values.astype(bool) if "ev_v2g" in ds else np.zeros(len(ids), bool)
    _check_sessions(ids, bus, arrival, departure, energy, p_max, node_of)
    session, step, plugged, last, hours_after = _plugged(arrival, departure, time, dt_h)
    return _Sessions(
        ids=ids,
        bus=bus,
        node=np.array([node_of[b] for b in bus], dtype=int),
        departure=departure,
        p_max_mw=p_max,
        v2g=v2g,
        energy_mwh=np.clip(energy - p_max * hours_after, 0, None),
        session=session,
        step=step,
        plugged=plugged,
        last=last,
    )


def _plugged(arrival: np.ndarray, departure: np.ndarray, time: pd.DatetimeIndex, dt_h: float):
    """When sessions (plugged ``arrival .. departure``, datetime64[ns]) are plugged in over ``time``:
    (step, session) pairs grouped by session, steps increasing (``session``, ``step``, the
    fraction of the step ``plugged``), each session's last step (-1: none) and its hours plugged
    in after the horizon."""
    start = time.values.astype("datetime64[ns]").astype(np.int64)
    step_ns = int(round(dt_h * 3600e9))
    arr, dep = arrival.astype(np.int64), departure.astype(np.int64)
    first = np.clip(np.searchsorted(start, arr, "right") - 1, 0, None)
    last = np.minimum(np.searchsorted(start, dep, "left") - 1, len(start) - 1)
    count = np.maximum(last - first + 1, 0)
    session = np.repeat(np.arange(len(arr)), count)
    step = first[session] + np.arange(count.sum()) - (np.cumsum(count) - count)[session]
    overlap = np.minimum(start[step] + step_ns, dep[session]) - np.maximum(start[step], arr[session])
    hours_after = np.clip((dep - (start[-1] + step_ns)) / 3600e9, 0, None)
    return session, step, np.clip(overlap, 0, None) / step_ns, np.where(count > 0, last, -1), hours_after


def ev_session_label(session_id, bus: int) -> str:
    """How explanations name an EV session: its id as written and its pandapower bus."""
    return f"EV session {session_id!r} at bus {bus}"


def ev_slots(node: np.ndarray, bus: np.ndarray) -> EvSessions:
    """Empty per-session slots at ``node`` (pandapower ``bus``): a rolling horizon's fixed EV
    layout, which ``fill_ev_slots`` fills for each window."""
    n = len(node)
    return EvSessions(
        index=np.arange(n),
        node=np.asarray(node, dtype=int),
        label=[f"EV slot {j} at bus {b}" for j, b in enumerate(bus)],
        bus=np.asarray(bus, dtype=int),
        p_max_mw=np.zeros((0, n)),
        v2g=np.zeros(n, dtype=bool),
        energy_mwh=np.zeros(n),
        energy_max_mwh=np.zeros(n),
        departure=np.full(n, np.datetime64("NaT", "ns")),
    )


def fill_ev_slots(
    slots: EvSessions,
    slot: np.ndarray,
    time: pd.DatetimeIndex,
    dt_h: float,
    arrival: np.ndarray,
    departure: np.ndarray,
    energy_mwh: np.ndarray,
    p_max_mw: np.ndarray,
) -> EvSessions:
    """``slots`` over ``time`` holding session i in slot ``slot[i]``; the other slots are empty
    (every bound 0). Session i, plugged in ``arrival[i] .. departure[i]`` (datetime64[ns]) at up to
    ``p_max_mw[i]``, still needs ``energy_mwh[i]``: its slot takes at most that within the horizon,
    and at least what it could not take after the horizon at full power."""
    session, step, plugged, _, hours_after = _plugged(arrival, departure, time, dt_h)
    n = len(slots)
    p_max = np.zeros((len(time), n))
    p_max[step, slot[session]] = p_max_mw[session] * plugged
    least, most = np.zeros(n), np.zeros(n)
    least[slot] = np.clip(energy_mwh - p_max_mw * hours_after, 0, None)
    most[slot] = energy_mwh
    leaves = np.full(n, np.datetime64("NaT", "ns"))
    leaves[slot] = departure
    return replace(slots, p_max_mw=p_max, energy_mwh=least, energy_max_mwh=most, departure=leaves)


def _check_sessions(ids, bus, arrival, departure, energy, p_max, node_of) -> None:
    for i in np.flatnonzero(~np.isin(bus, list(node_of))):
        raise DataError(f"ev_sessions: session {ids[i]!r} ev_bus must be an in-service bus (got {bus[i]})")
    for i in np.flatnonzero(~(departure > arrival)):
        raise DataError(f"ev_sessions: session {ids[i]!r} must depart after it arrives (got {arrival[i]} → {departure[i]})")
    for i in np.flatnonzero(~((energy >= 0) & (p_max > 0))):
        raise DataError(
            f"ev_sessions: session {ids[i]!r} needs ev_energy_mwh >= 0 and ev_p_max_mw > 0 (got {energy[i]}, {p_max[i]})"
        )


def _per_session(s: _Sessions, n_time: int) -> EvSessions:
    """One EV per session, with its (T, S) power limit."""
    p_max = np.zeros((n_time, len(s.ids)))
    p_max[s.step, s.session] = s.p_max_mw[s.session] * s.plugged
    return EvSessions(
        index=np.asarray(s.ids),
        node=s.node,
        label=[ev_session_label(sid, b) for sid, b in zip(s.ids, s.bus)],
        bus=s.bus,
        p_max_mw=p_max,
        v2g=s.v2g,
        energy_mwh=s.energy_mwh,
        energy_max_mwh=s.energy_mwh,
        departure=s.departure,
    )


def _aggregate(s: _Sessions, n_time: int, dt_h: float) -> EvAggregates:
    """Per-node envelope of the sessions (see ``gridopt.dispatch.ev``)."""
    if s.v2g.any():
        sid = s.ids[np.flatnonzero(s.v2g)[0]]
        raise DataError(f"ev_sessions: session {sid!r} is V2G; use ev_formulation='session' for V2G")
    nodes, k_of = np.unique(s.node, return_inverse=True)
    n_k = len(nodes)
    cap = s.cap_mwh(dt_h)  # (P,)
    taken = s.cumulative(cap)  # energy the window can have taken by the end of each step
    total = np.bincount(s.session, weights=cap, minlength=len(s.ids))
    energy = np.minimum(s.energy_mwh, total)
    e = energy[s.session]

    def per_node(values: np.ndarray, after: np.ndarray | None = None) -> np.ndarray:
        """(T, K) sums of pair ``values``; plus each session's ``after`` from the step after its
        window to the end of the horizon."""
        flat = s.step * n_k + k_of[s.session]
        out = np.bincount(flat, weights=values, minlength=n_time * n_k).reshape(n_time, n_k)
        if after is not None:
            ends = s.last >= 0
            later = np.zeros((n_time + 1, n_k))
            np.add.at(later, (s.last[ends] + 1, k_of[ends]), after[ends])
            out += np.cumsum(later, axis=0)[:n_time]
        return out

    bus_of_node = {n: b for n, b in zip(s.node, s.bus)}
    return EvAggregates(
        index=np.array([bus_of_node[n] for n in nodes]),
        node=nodes,
        label=[f"EV aggregate at bus {bus_of_node[n]}" for n in nodes],
        p_max_mw=per_node(np.minimum(cap, e) / dt_h),  # no session takes more than it needs in a step
        e_early_mwh=per_node(np.minimum(taken, e), energy),
        e_late_mwh=per_node(np.clip(e - (total[s.session] - taken), 0, None), energy),
        shortfall_mwh=np.bincount(k_of, weights=s.energy_mwh - energy, minlength=n_k),
        n_sessions=np.bincount(k_of, minlength=n_k),
        uncontrolled=per_node(np.clip(e - (taken - cap), 0, cap) / dt_h),
    )
