"""Power flows on branches: linear DC flow for meshed grids, LinDistFlow for radial feeders.

Sign convention: ``p[t, l]`` (MW) and ``q[t, l]`` (Mvar) flow from the branch's from_bus (hv_bus)
to its to_bus (lv_bus); the flow leaves the from-node and arrives at the to-node (lossless).

**DC** (``options.network="dc"``): ``p = base_mva * (θ_from - θ_to) / (x_pu τ)``, posed either with
bus voltage angles (``dc_flow="angle"``, one row per branch) or with Kirchhoff's voltage law
around a cycle basis (``dc_flow="cycle"``, the default: ``Σ ±x_l p_l = 0`` per fundamental cycle,
no angles). Both give the same flows and prices; ``benchmarks/flow_formulations.py`` compares them:
on case118 the cycle form has 13 % fewer columns and 22 % fewer rows, and HiGHS's simplex solves
it as fast or faster.

**LinDistFlow** (radial): squared voltage magnitudes ``w = v²`` (pu²), with
``w_from / τ² - w_to = 2 (r p + x q) / base_mva`` (losses neglected), voltage limits
``vm_min² <= w <= vm_max²`` and ``w`` fixed at ext_grid buses to ``vm_pu²``. Shunts (line
charging and conductance, transformer magnetising, ``net.shunt``) consume ``p_sh w`` and
``q_sh w`` at their node: exact in v², unlike the series losses the model leaves out.

Here ``τ`` is a transformer's off-nominal ratio at its hv end (tap position and rated voltages
against the buses' ``vn_kv``; 1 for lines) and ``r``, ``x`` its series impedance on the lv side,
as in pandapower's branch model. Phase shifts are ignored.

**Thermal limits**: a branch rating ``S`` (MVA; ``max_i_ka · vn_kv · √3 · df · parallel ·
max_loading_percent/100`` for lines, ``sn_mva · parallel · max_loading_percent/100`` for trafos)
bounds ``|p| <= S`` in DC. LinDistFlow bounds ``(p, q)`` by the inscribed regular polygon of
``options.polygon_sides`` sides (default 12: conservative by at most ``1 - cos(π/12)`` = 3.4 %).

**Elastic slacks** keep the problem feasible at a high penalty: ``v_hi``/``v_lo`` (pu² beyond the
voltage limits), load shedding per node (``define_load_shed``) and the thermal slacks. In DC,
``over_pos``/``over_neg`` are the MW of ``p`` beyond ``±S``. In LinDistFlow they shift the flow
vector inside the polygon rows, ``(p - over_pos + over_neg, q - over_q_pos + over_q_neg)`` (MW,
Mvar), so a shift back to (0, 0) always restores feasibility however large the overload (a
shift of ``p`` alone could not: no point of the polygon has ``|q| > S``). Their sum, the L1
length of the cheapest shift, is what a run reports as the excess (MVA): at least the Euclidean
distance from ``(p, q)`` to the polygon, hence at least ``sqrt(p² + q²) - S``, and at most √2
times that distance. A pure active flow ``p > S`` is shifted to the polygon's vertex ``(S, 0)``:
excess ``p - S``.
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo
import scipy.sparse as sp

from gridopt.dispatch.lp import each_step, incidence, selection
from gridopt.dispatch.parts import Parts

__all__ = ["THERMAL_SLACKS", "define_network", "define_load_shed", "cycle_basis"]

# The thermal slack blocks of ``flow``, each (time, rated branch): DC has the first two (MW of p
# beyond ±S), LinDistFlow all four (the P and Q shift of the flow into its polygon, MW and Mvar).
THERMAL_SLACKS = ("over_pos", "over_neg", "over_q_pos", "over_q_neg")


def define_network(m: pyo.ConcreteModel, parts: Parts) -> None:
    """Flows, their physics and limits, and the flows' injections into the nodal balance."""
    data = parts.data
    net = data.network
    b = m.flow = pyo.Block()
    b.L = pyo.RangeSet(0, len(net.branch) - 1)
    parts.param(b, "from_node", (b.L,), net.from_node)
    parts.param(b, "to_node", (b.L,), net.to_node)
    parts.groups(b, "out_of", m.N, net.from_node, net.n_node)
    parts.groups(b, "into", m.N, net.to_node, net.n_node)
    parts.var(b, "p", (m.T, b.L), -np.inf, np.inf)
    parts.inject(
        lambda m, t, n: sum(m.flow.p[t, l] for l in m.flow.into[n])
        - sum(m.flow.p[t, l] for l in m.flow.out_of[n]),
        "flow.p",
        _arrivals(net),
    )
    if data.formulation == "lindistflow":
        _define_lindistflow(m, b, parts)
    elif data.options.dc_flow == "cycle":
        _define_dc_cycles(m, b, parts)
    else:
        _define_dc_angles(m, b, parts)


def _arrivals(net) -> sp.csr_matrix:
    """(nodes × branches): +1 where a branch arrives, -1 where it leaves."""
    return (incidence(net.to_node, net.n_node) + incidence(net.from_node, net.n_node, -1.0)).tocsr()


def _define_dc_angles(m, b, parts: Parts) -> None:
    net = parts.data.network
    n_time, n_branch = parts.data.n_time, len(net.branch)
    theta_bound = np.full(net.n_node, np.inf)
    theta_bound[net.ref_node] = 0.0
    parts.var(b, "theta", (m.T, m.N), -theta_bound, theta_bound)  # rad, 0 at references
    b_mw_per_rad = net.base_mva / net.x_dc_pu
    parts.param(b, "b_mw_per_rad", (b.L,), b_mw_per_rad)
    parts.constraint(
        b,
        "kvl",
        (m.T, b.L),
        lambda b, t, l: b.p[t, l]
        == b.b_mw_per_rad[l] * (b.theta[t, b.from_node[l]] - b.theta[t, b.to_node[l]]),
        terms=[
            each_step("flow.p", sp.identity(n_branch), n_time),
            each_step(
                "flow.theta",
                selection(net.from_node, net.n_node, -b_mw_per_rad)
                + selection(net.to_node, net.n_node, b_mw_per_rad),
                n_time,
            ),
        ],
        lower=0.0,
        upper=0.0,
    )
    _define_dc_limits(m, b, parts)


def _define_dc_cycles(m, b, parts: Parts) -> None:
    net = parts.data.network
    cycles = cycle_basis(net.from_node, net.to_node, net.n_node)
    _define_dc_limits(m, b, parts)
    if not cycles:  # a radial grid: the balance alone fixes every flow
        return
    entries = [(c, l, s) for c, cycle in enumerate(cycles) for l, s in cycle]
    cycle_of, branch, sign = (np.array(x) for x in zip(*entries))
    x_signed = sign * net.x_dc_pu[branch]
    b.C = pyo.RangeSet(0, len(cycles) - 1)
    b.J = pyo.RangeSet(0, len(entries) - 1)
    parts.param(b, "entry_branch", (b.J,), branch)
    parts.param(b, "entry_x_pu", (b.J,), x_signed)
    parts.groups(b, "entries", b.C, cycle_of, len(cycles))
    parts.constraint(
        b,
        "kvl",
        (m.T, b.C),
        lambda b, t, c: sum(b.entry_x_pu[j] * b.p[t, b.entry_branch[j]] for j in b.entries[c]) == 0,
        terms=[
            each_step(
                "flow.p",
                sp.coo_matrix((x_signed, (cycle_of, branch)), shape=(len(cycles), len(net.branch))),
                parts.data.n_time,
            )
        ],
        lower=0.0,
        upper=0.0,
    )


def _define_dc_limits(m, b, parts: Parts) -> None:
    """``-S <= p - over_pos + over_neg <= S`` on every branch with a finite rating."""
    net = parts.data.network
    n_time = parts.data.n_time
    limited = np.flatnonzero(np.isfinite(net.rating_mva))
    b.K = pyo.RangeSet(0, len(limited) - 1)
    parts.param(b, "limited", (b.K,), limited)
    parts.param(b, "rating_mw", (b.K,), net.rating_mva[limited])
    parts.var(b, "over_pos", (m.T, b.K), 0.0, np.inf)
    parts.var(b, "over_neg", (m.T, b.K), 0.0, np.inf)
    parts.constraint(
        b,
        "limit",
        (m.T, b.K),
        lambda b, t, k: pyo.inequality(
            -b.rating_mw[k],
            b.p[t, b.limited[k]] - b.over_pos[t, k] + b.over_neg[t, k],
            b.rating_mw[k],
        ),
        terms=[
            each_step("flow.p", selection(limited, len(net.branch)), n_time),
            each_step("flow.over_pos", -sp.identity(len(limited)), n_time),
            each_step("flow.over_neg", sp.identity(len(limited)), n_time),
        ],
        lower=-net.rating_mva[limited],
        upper=net.rating_mva[limited],
    )


def _define_lindistflow(m, b, parts: Parts) -> None:
    data = parts.data
    net = data.network
    n_time, n_node = data.n_time, net.n_node
    w_lo = np.zeros(n_node)
    w_hi = np.full(n_node, np.inf)
    w_lo[net.root_node] = w_hi[net.root_node] = net.root_vm_pu**2
    parts.var(b, "q", (m.T, b.L), -np.inf, np.inf)
    parts.var(b, "w", (m.T, m.N), w_lo, w_hi)  # squared voltage magnitude, pu²
    parts.var(b, "v_hi", (m.T, m.N), 0.0, np.inf)  # pu² above vm_max²
    parts.var(b, "v_lo", (m.T, m.N), 0.0, np.inf)  # pu² below vm_min²
    parts.inject(
        lambda m, t, n: sum(m.flow.q[t, l] for l in m.flow.into[n])
        - sum(m.flow.q[t, l] for l in m.flow.out_of[n]),
        "flow.q",
        _arrivals(net),
        reactive=True,
    )
    # shunts consume in proportion to v² = w (line charging is a negative consumption)
    parts.param(b, "shunt_p_mw", (m.N,), net.shunt_p_mw)
    parts.param(b, "shunt_q_mvar", (m.N,), net.shunt_q_mvar)
    parts.inject(lambda m, t, n: -m.flow.shunt_p_mw[n] * m.flow.w[t, n], "flow.w", sp.diags(-net.shunt_p_mw))
    parts.inject(
        lambda m, t, n: -m.flow.shunt_q_mvar[n] * m.flow.w[t, n], "flow.w", sp.diags(-net.shunt_q_mvar), reactive=True
    )
    w_ratio = net.ratio**-2.0
    r2 = 2 * net.r_pu / net.base_mva
    x2 = 2 * net.x_pu / net.base_mva
    parts.param(b, "w_ratio", (b.L,), w_ratio)
    parts.param(b, "r2_pu_per_mw", (b.L,), r2)
    parts.param(b, "x2_pu_per_mvar", (b.L,), x2)
    parts.param(b, "w_min", (m.N,), net.vm_min_pu**2)
    parts.param(b, "w_max", (m.N,), net.vm_max_pu**2)
    parts.constraint(
        b,
        "voltage_drop",
        (m.T, b.L),
        lambda b, t, l: b.w_ratio[l] * b.w[t, b.from_node[l]] - b.w[t, b.to_node[l]]
        == b.r2_pu_per_mw[l] * b.p[t, l] + b.x2_pu_per_mvar[l] * b.q[t, l],
        terms=[
            each_step(
                "flow.w", selection(net.from_node, n_node, w_ratio) + selection(net.to_node, n_node, -1.0), n_time
            ),
            each_step("flow.p", sp.diags(-r2), n_time),
            each_step("flow.q", sp.diags(-x2), n_time),
        ],
        lower=0.0,
        upper=0.0,
    )
    parts.constraint(
        b,
        "voltage_limit",
        (m.T, m.N),
        lambda b, t, n: pyo.inequality(
            b.w_min[n], b.w[t, n] - b.v_hi[t, n] + b.v_lo[t, n], b.w_max[n]
        ),
        terms=[
            each_step("flow.w", sp.identity(n_node), n_time),
            each_step("flow.v_hi", -sp.identity(n_node), n_time),
            each_step("flow.v_lo", sp.identity(n_node), n_time),
        ],
        lower=net.vm_min_pu**2,
        upper=net.vm_max_pu**2,
    )
    _define_polygon_limits(m, b, parts)


def _define_polygon_limits(m, b, parts: Parts) -> None:
    """Inscribed polygon, K/2 ranged rows per rated branch ``k`` and step: for each side pair ``s``,
    ``|cos φ_s (p - over_pos + over_neg) + sin φ_s (q - over_q_pos + over_q_neg)| <= S cos(π/K)``.

    The four slacks (MW, MW, Mvar, Mvar; >= 0) shift the flow vector by the same amount in every
    row, so they always can bring it inside; priced per MVA of shift (``objective.cost_terms``).
    """
    net = parts.data.network
    n_time, n_branch = parts.data.n_time, len(net.branch)
    sides = parts.data.options.polygon_sides
    limited = np.flatnonzero(np.isfinite(net.rating_mva))
    phi = (2 * np.arange(sides // 2) + 1) * np.pi / sides
    side_mva = net.rating_mva[limited] * np.cos(np.pi / sides)
    b.K = pyo.RangeSet(0, len(limited) - 1)
    b.SIDE = pyo.RangeSet(0, len(phi) - 1)
    parts.param(b, "limited", (b.K,), limited)
    parts.param(b, "side_mva", (b.K,), side_mva)
    parts.param(b, "cos_phi", (b.SIDE,), np.cos(phi))
    parts.param(b, "sin_phi", (b.SIDE,), np.sin(phi))
    for name in THERMAL_SLACKS:
        parts.var(b, name, (m.T, b.K), 0.0, np.inf)

    def side(b, t, k, s):
        l = b.limited[k]
        p = b.p[t, l] - b.over_pos[t, k] + b.over_neg[t, k]
        q = b.q[t, l] - b.over_q_pos[t, k] + b.over_q_neg[t, k]
        return pyo.inequality(-b.side_mva[k], b.cos_phi[s] * p + b.sin_phi[s] * q, b.side_mva[k])

    # rows (k, s) of each step; every row of branch k reads its p and q and its four slacks
    branch_of_row = np.repeat(limited, len(phi))
    k_of_row = np.repeat(np.arange(len(limited)), len(phi))
    cos, sin = np.tile(np.cos(phi), len(limited)), np.tile(np.sin(phi), len(limited))
    n_limited = len(limited)
    parts.constraint(
        b,
        "limit",
        (m.T, b.K, b.SIDE),
        side,
        terms=[
            each_step("flow.p", selection(branch_of_row, n_branch, cos), n_time),
            each_step("flow.q", selection(branch_of_row, n_branch, sin), n_time),
            each_step("flow.over_pos", selection(k_of_row, n_limited, -cos), n_time),
            each_step("flow.over_neg", selection(k_of_row, n_limited, cos), n_time),
            each_step("flow.over_q_pos", selection(k_of_row, n_limited, -sin), n_time),
            each_step("flow.over_q_neg", selection(k_of_row, n_limited, sin), n_time),
        ],
        lower=-side_mva[:, None],
        upper=side_mva[:, None],
    )


def define_load_shed(m: pyo.ConcreteModel, parts: Parts) -> None:
    """Load shedding per node (MW), up to the node's load; the last resort of every balance."""
    b = m.shed = pyo.Block()
    parts.var(b, "p", (m.T, m.N), 0.0, np.maximum(parts.data.load_p_mw, 0.0))
    parts.inject(lambda m, t, n: m.shed.p[t, n], "shed.p", sp.identity(parts.data.network.n_node))


def cycle_basis(from_node: np.ndarray, to_node: np.ndarray, n_node: int) -> list[list[tuple[int, int]]]:
    """A cycle basis of the branch graph, each cycle a list of ``(branch, ±1)``.

    ``+1`` means the cycle runs along the branch's own direction (from → to). Summing
    ``±x_l p_l`` around each cycle gives the angle differences' sum, which is zero. Paton's
    algorithm (1969): a depth-first spanning tree; each branch outside it closes one cycle through
    the tree and branches met before, so each cycle holds a branch no earlier one does (the cycles
    are independent, E - N + components of them). Its cycles are short: on case118, 323 branch
    entries where the fundamental cycles of a breadth-first tree have 506, which HiGHS solves
    about 20 % faster. Parallel branches form two-branch cycles.
    """
    adjacency: list[list[tuple[int, int]]] = [[] for _ in range(n_node)]
    for l, (f, t) in enumerate(zip(from_node.tolist(), to_node.tolist())):
        adjacency[f].append((t, l))
        adjacency[t].append((f, l))
    done = [False] * len(from_node)
    parent: dict[int, tuple[int, int]] = {}  # node -> (tree parent, branch to it)
    met: dict[int, dict[int, int]] = {}  # node -> {neighbour that reached it: through which branch}
    cycles = []
    for root in range(n_node):
        if root in met:
            continue
        met[root] = {}
        stack = [root]
        while stack:
            z = stack.pop()
            for nbr, l in adjacency[z]:
                if done[l]:
                    continue
                done[l] = True
                if nbr not in met:  # a tree branch
                    parent[nbr] = (z, l)
                    met[nbr] = {z: l}
                    stack.append(nbr)
                    continue
                # l closes a cycle: nbr -> z, up the tree to a node p that reached nbr, p -> nbr
                walk = [(nbr, l)]
                p = z
                while p not in met[nbr]:
                    up, k = parent[p]
                    walk.append((p, k))
                    p = up
                walk.append((p, met[nbr][p]))
                met[nbr][z] = l
                cycles.append([(k, 1 if from_node[k] == a else -1) for a, k in walk])
    return cycles
