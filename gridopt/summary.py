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


def asset_rows(scenario: Scenario) -> list[dict[str, str]]:
    """Generating units, storage and EV chargers grouped by type and bus."""
    net = scenario.net
    rows = []
    for table, label in (("sgen", "sgen"), ("gen", "gen"), ("storage", "storage")):
        frame = getattr(net, table)
        if frame.empty:
            continue
        kind = frame["type"].fillna("-") if "type" in frame else pd.Series("-", index=frame.index)
        capacity = frame["max_e_mwh"] if table == "storage" else frame.get("max_p_mw", frame["p_mw"])
        for (t, bus), group in frame.groupby([kind, frame["bus"]]):
            rows.append({
                "element": label,
                "type": str(t),
                "bus": str(bus),
                "count": str(len(group)),
                "capacity": f"{capacity.loc[group.index].fillna(group['p_mw']).sum():.3f} "
                + ("MWh" if table == "storage" else "MW"),
            })
    if scenario.ev_sessions is not None:
        per_bus = Counter(scenario.ev_sessions["ev_bus"].values.tolist())
        for bus, n in sorted(per_bus.items()):
            rows.append({"element": "ev", "type": "charger", "bus": str(bus),
                         "count": f"{n} sessions", "capacity": ""})
    return _collapse(rows)


def _collapse(rows: list[dict[str, str]], limit: int = 40) -> list[dict[str, str]]:
    """Keep the table readable: beyond ``limit`` rows, one row per element and type."""
    if len(rows) <= limit:
        return rows
    merged: dict[tuple[str, str], dict] = {}
    for r in rows:
        key = (r["element"], r["type"])
        m = merged.setdefault(key, {"element": r["element"], "type": r["type"], "buses": set(), "count": 0})
        m["buses"].add(r["bus"])
        m["count"] += int(r["count"].split()[0])
    return [{"element": m["element"], "type": m["type"], "bus": f"{len(m['buses'])} buses",
             "count": str(m["count"]), "capacity": ""} for m in merged.values()]


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
        "energy requested": f"{float(ev['ev_energy_mwh'].sum()):.3f} MWh",
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
