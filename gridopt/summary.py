"""What ``gridopt inspect`` shows of a scenario, as plain rows (the CLI renders them)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import xarray as xr

from gridopt.io.series import qc_name, qc_summary
from gridopt.scenario import Scenario

__all__ = ["network_rows", "asset_rows", "series_rows", "window_row", "session_row"]


def window_row(scenario: Scenario) -> dict[str, str]:
    """The time window and step."""
    times = scenario.series.indexes["time"]
    step = pd.Timedelta(times[1] - times[0]) if len(times) > 1 else pd.Timedelta(0)
    return {
        "start (UTC)": f"{times[0]:%Y-%m-%d %H:%M}",
        "end (UTC)": f"{times[-1] + step:%Y-%m-%d %H:%M}",
        "steps": str(len(times)),
        "step": str(step),
    }


def network_rows(scenario: Scenario) -> dict[str, str]:
    """Element counts and totals of the network (with the model's assets)."""
    from gridopt.network import network_summary

    return {k: str(v) for k, v in network_summary(scenario.net).items()}


_CAPACITY = {"sgen": ("p_mw", "MW"), "gen": ("max_p_mw", "MW"), "storage": ("max_e_mwh", "MWh")}


def asset_rows(scenario: Scenario) -> list[dict[str, str]]:
    """Generating units, storage and EV chargers grouped by type and bus (by type alone when long)."""
    net = scenario.net
    rows = []
    for table, (column, units) in _CAPACITY.items():
        frame = getattr(net, table)
        if frame.empty:
            continue
        kind = frame["type"].astype(object).where(frame["type"].notna(), "-") if "type" in frame else "-"
        grouped = frame.assign(kind=kind).groupby(["kind", "bus"])[column]
        for (t, bus), capacity in grouped:
            rows.append({"element": table, "type": str(t), "bus": str(bus), "count": len(capacity),
                         "capacity": float(capacity.sum()), "units": units})
    if scenario.ev_sessions is not None:
        per_bus = Counter(scenario.ev_sessions["ev_bus"].values.tolist())
        for bus, n in sorted(per_bus.items()):
            rows.append({"element": "ev sessions", "type": "charger", "bus": str(bus), "count": n,
                         "capacity": 0.0, "units": ""})
    return [_format(r) for r in (_by_type(rows) if len(rows) > 40 else rows)]


def _by_type(rows: list[dict]) -> list[dict]:
    merged: dict[tuple[str, str], dict] = {}
    for r in rows:
        m = merged.setdefault((r["element"], r["type"]), {**r, "bus": set(), "count": 0, "capacity": 0.0})
        m["bus"].add(r["bus"])
        m["count"] += r["count"]
        m["capacity"] += r["capacity"]
    return [{**m, "bus": f"{len(m['bus'])} buses"} for m in merged.values()]


def _format(row: dict) -> dict[str, str]:
    capacity = f"{row['capacity']:.3f} {row['units']}" if row["units"] else ""
    return {"element": row["element"], "type": row["type"], "bus": row["bus"],
            "count": str(row["count"]), "capacity": capacity}


def series_rows(scenario: Scenario) -> list[dict[str, str]]:
    """Each series: its source, units, shape, coverage in the window and QC flag counts."""
    ds = scenario.series
    rows = []
    for name, var in ds.data_vars.items():
        if str(name).endswith("_qc"):
            continue
        rows.append({
            "series": str(name),
            "source": var.attrs.get("source_series", "-"),
            "units": var.attrs.get("units", "-"),
            "elements": _elements(var),
            "coverage": f"{_coverage(var):.1%}",
            "qc flags": _flags(ds, str(name)),
        })
    return rows


def session_row(scenario: Scenario) -> dict[str, str] | None:
    """EV sessions in the window: count, energy, plugged hours."""
    ev = scenario.ev_sessions
    if ev is None:
        return None
    plugged = (ev["ev_departure_time"] - ev["ev_arrival_time"]) / np.timedelta64(1, "h")
    return {
        "sessions": str(ev.sizes["session"]),
        "energy to deliver": f"{float(ev['ev_energy_mwh'].sum()):.3f} MWh",
        "buses": str(len(np.unique(ev["ev_bus"].values))),
        "median plugged time": f"{float(plugged.median()):.1f} h",
        "source": str(ev.attrs.get("source", "-")),
    }


def _elements(var: xr.DataArray) -> str:
    dims = [d for d in var.dims if d != "time"]
    return ", ".join(f"{var.sizes[d]} {d}" for d in dims) or "1"


def _coverage(var: xr.DataArray) -> float:
    values = np.asarray(var.values, dtype=float)
    return float(np.isfinite(values).mean()) if values.size else 0.0


def _flags(ds: xr.Dataset, name: str) -> str:
    if qc_name(name) not in ds:
        return "-"
    counts = qc_summary(ds, name)
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "none"
