"""The ``gridopt`` command.

Exit codes: 0 ok, 1 other failure explained in one line, 2 bad input, 3 infeasible as posed,
4 solver failure or time limit. No traceback reaches the user unless ``--debug`` is given.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from collections.abc import Callable, Sequence

from rich.console import Console
from rich.table import Table

from gridopt import __version__
from gridopt.errors import GridoptError

__all__ = ["main"]

# Wide enough for the tables when output goes to a file or a pipe (no terminal to measure).
out = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _table(title: str, rows: Sequence[dict[str, str]]) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    for column in rows[0] if rows else ():
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(*row.values())
    return table


def _pairs(title: str, mapping: dict[str, str]) -> Table:
    return _table(title, [{"": k, "value": v} for k, v in mapping.items()])


def cmd_inspect(args: argparse.Namespace) -> int:
    from gridopt.config import load_model
    from gridopt.scenario import build_scenario
    from gridopt.summary import asset_rows, network_rows, series_rows, session_row, window_row

    config = load_model(args.model, args.data_dir)
    with err.status("loading model") as status:
        scenario = build_scenario(config, progress=lambda m: status.update(f"loading {m}"))
    out.print(f"[bold]{config.name}[/bold] ({config.path}): {config.description}")
    out.print(_pairs("network " + config.network.source, network_rows(scenario)))
    out.print(_pairs("time window", window_row(scenario)))
    assets = asset_rows(scenario)
    if assets:
        out.print(_table("assets by type and bus", assets))
    out.print(_table("series", series_rows(scenario)))
    sessions = session_row(scenario)
    if sessions:
        out.print(_pairs("EV sessions", sessions))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from gridopt.config import load_model, with_window
    from gridopt.run import run_model
    from gridopt.store import Store

    config = with_window(load_model(args.model, args.data_dir), args.start, args.hours)
    out.print(f"[bold]{config.name}[/bold]: {config.description}")
    with err.status("building the scenario") as status:
        def progress(phase: str, seconds: float) -> None:
            err.print(f"  {phase:<9} {seconds:6.2f} s", markup=False)
            status.update(_NEXT_PHASE.get(phase, "finishing"))

        outcome = run_model(config, store=Store(args.store), out=args.out, ac=not args.no_ac,
                            ac_iterations=args.ac_loop, progress=progress)
    results = outcome.results
    out.print(_summary_table(outcome, config.grid.currency))
    for line in results.attrs.get("explanation", "").split("\n"):
        if line:
            out.print(f"  {line}", markup=False)
    if "kpi_episode_hours" in results.attrs:
        out.print(_policy_table(results.attrs, config.grid.currency))
    if not args.no_ac:
        _print_ac(results)
    out.print(f"status {results.attrs['status']}; stored as run {outcome.run_id}"
              + (f" and written to {args.out}" if args.out else ""))
    return 3 if results.attrs["status"] == "infeasible_as_posed" else 0


_NEXT_PHASE = {"scenario": "optimizing", "optimize": "AC power flow of every step",
               "ac check": "solving the baseline", "baseline": "storing"}


_POLICY_ROWS = [
    ("NOx in episode hours", "episode_nox_t", "t"),
    ("SO2 in episode hours", "episode_so2_t", "t"),
    ("PM2.5 in episode hours", "episode_pm25_t", "t"),
    ("cost", "cost_total", "{currency}"),
    ("CO2, marginal signal", "co2_marginal_t", "t"),
    ("CO2, average signal", "co2_average_t", "t"),
]


def _policy_table(attrs: dict, currency: str) -> Table:
    """The air-quality policy's effect: the run with it against the same run without it."""
    rows = [{"": label, "with policy": _num(attrs[f"kpi_{key}"]),
             "without policy": _num(attrs[f"kpi_nopolicy_{key}"]),
             "avoided by the policy": _num(attrs[f"kpi_policy_{key}_avoided"]),
             "units": units.format(currency=currency)}
            for label, key, units in _POLICY_ROWS]
    hours = int(attrs["kpi_episode_hours"])
    return _table(f"air-quality policy: {hours} episode hours in the window", rows)


def _print_ac(results) -> None:
    """The AC check in a few lines: violations (the first ten) and the linear model's error."""
    lines = [x for x in results.attrs.get("ac_violations", "").split("\n") if x]
    unconverged = int(results.attrs.get("kpi_ac_unconverged_steps", 0))
    vm = results.attrs.get("ac_linear_error_vm_abs_max_pu")
    p = results.attrs.get("ac_linear_error_p_abs_max_mw")
    error = (f"max |Δvm| {vm:.4f} pu" if vm is not None else "") + (
        f"{', ' if vm is not None else ''}max |Δp| {p:.4f} MW" if p is not None else "")
    for line in results.attrs.get("ac_loop", "").split("\n"):
        if line:
            out.print(f"AC loop {line}", markup=False)
    out.print(f"AC power flow ({results.attrs.get('ac_backend')}): {len(lines)} violations, "
              f"{unconverged} steps not converged; linear vs AC: {error or 'n/a'}")
    for line in lines[:10]:
        out.print(f"  {line}", markup=False)
    if len(lines) > 10:
        out.print(f"  … and {len(lines) - 10} more (gridopt runs show)")

_SUMMARY_ROWS = [
    ("cost", "cost_total", "cost_avoided", "{currency}"),
    ("CO2, marginal signal", "co2_marginal_t", "co2_marginal_avoided_t", "t"),
    ("CO2, average signal", "co2_average_t", "co2_average_avoided_t", "t"),
    ("NOx", "nox_t", "nox_avoided_t", "t"),
    ("SO2", "so2_t", "so2_avoided_t", "t"),
    ("PM2.5", "pm25_t", "pm25_avoided_t", "t"),
    ("renewable share", "renewable_share", None, ""),
    ("curtailment", "curtailment_mwh", None, "MWh"),
    ("EV energy served", "ev_energy_served_mwh", None, "MWh"),
    ("EV energy unmet", "ev_unmet_mwh", None, "MWh"),
    ("load shed", "load_shed_mwh", None, "MWh"),
    ("violations", "violations", None, ""),
]


def _summary_table(outcome, currency: str) -> Table:
    rows = []
    for label, key, saved, units in _SUMMARY_ROWS:
        rows.append({
            "": label,
            "run": _num(outcome.kpis[key]),
            "baseline": _num(outcome.baseline_kpis[key]),
            "avoided": _num(outcome.avoided[saved]) if saved else "",
            "units": units.format(currency=currency),
        })
    return _table("outcome against the baseline (uncontrolled EV charging, idle storage)", rows)


def cmd_monitor(args: argparse.Namespace) -> int:
    from gridopt.monitor import monitor_command

    with err.status("computing the air-quality index"):
        report = monitor_command(args.target, data_dir=args.data_dir, out_png=args.png,
                                 standard=args.standard)
    out.print(report.title, style="bold", markup=False)
    for title, rows in report.tables:
        out.print(_table(title, rows))
    if report.figure is not None:
        out.print(f"figure written to {report.figure}")
    return 0


def cmd_forecast(args: argparse.Namespace) -> int:
    from gridopt.forecast import forecast_command, forecast_rows
    from gridopt.store import Store

    store = Store(args.store)
    with err.status("fitting the forecasts"):
        run_id = forecast_command(args.model, args.issue_time, args.horizon,
                                  data_dir=args.data_dir, store=store)
    ds = store.open(run_id)
    out.print(ds.attrs["title"], style="bold", markup=False)
    out.print(_table("forecast series (means over the horizon)", forecast_rows(ds)))
    if "comment" in ds.attrs:
        out.print(f"note: {ds.attrs['comment']}", markup=False)
    out.print(f"stored as run {run_id}")
    return 0


def cmd_app(args: argparse.Namespace) -> int:
    from gridopt.app import serve

    serve(_store(args), host=args.host, port=args.port)
    return 0


def cmd_data_list(args: argparse.Namespace) -> int:
    from gridopt.config import resolve_data_dir
    from gridopt.datasets import DATASETS, files_needed

    data_dir = resolve_data_dir(args.data_dir)
    out.print(f"data folder: {data_dir or '(none set: --data-dir or GRIDOPT_DATA_DIR)'}")
    out.print(_table("files the shipped models read", files_needed(data_dir)))
    rows = [{"name": d.name, "path": d.path, "published": d.published, "licence": d.licence,
             "fetch": "yes" if d.download else "by hand"} for d in DATASETS.values()]
    out.print(_table("public data sets", rows))
    return 0


def cmd_data_fetch(args: argparse.Namespace) -> int:
    from gridopt.config import resolve_data_dir
    from gridopt.datasets import fetch

    with err.status(f"downloading {args.name}"):
        folder = fetch(args.name, resolve_data_dir(args.data_dir))
    out.print(f"{args.name}: saved in {folder}")
    return 0


def _store(args: argparse.Namespace):
    from gridopt.store import Store

    return Store(args.store)


def cmd_runs_list(args: argparse.Namespace) -> int:
    records = _store(args).list(model=args.model, status=args.status, limit=args.limit)
    if not records:
        out.print(f"no runs in {_store(args).root}")
        return 0
    rows = [{"run id": r.run_id, "model": r.model, "created (UTC)": f"{r.created:%Y-%m-%d %H:%M:%S}",
             "status": r.status, "objective": _num(r.objective),
             "CO2 avoided (marginal) t": _num(r.kpis.get("co2_marginal_avoided_t"))}
            for r in records]
    out.print(_table(f"runs in {_store(args).root}", rows))
    return 0


def cmd_runs_show(args: argparse.Namespace) -> int:
    store = _store(args)
    manifest = store.manifest(args.run_id)
    head = {k: str(manifest.get(k)) for k in ("run_id", "model", "created", "status", "objective")}
    out.print(_pairs(f"run {args.run_id}", head))
    kpis = manifest.get("kpis") or {}
    if kpis:
        out.print(_pairs("key figures", {k: _num(v) for k, v in kpis.items()}))
    for line in manifest.get("explanation") or []:
        out.print(f"  {line}", markup=False)
    return 0


def cmd_runs_export(args: argparse.Namespace) -> int:
    if args.ev_statement:
        from gridopt.statements import ev_statement

        frame = ev_statement(_store(args).open(args.run_id), where=f"run {args.run_id}")
        tmp = args.out.with_name(f".{args.out.name}.tmp")
        frame.to_csv(tmp, index=False)
        tmp.replace(args.out)
        path = args.out
    else:
        path = _store(args).export_csv(args.run_id, args.variable, args.out)
    out.print(f"wrote {path}")
    return 0


def _num(value) -> str:
    """Thousands with separators, small values to four significant digits."""
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gridopt", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"gridopt {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    parser.add_argument("--data-dir", help="folder of public data files (default: $GRIDOPT_DATA_DIR)")
    parser.add_argument("--store", help="run store folder (default: $GRIDOPT_STORE or ./gridopt-runs)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="optimize a model against its baseline and store the results")
    p.add_argument("model", nargs="?", default=None, help="model file or shipped model name (default: default)")
    p.add_argument("--start", help="override the window start (ISO 8601; no offset means UTC)")
    p.add_argument("--hours", type=int, help="override the window length in hours")
    p.add_argument("--out", type=Path, help="also write the results NetCDF here")
    p.add_argument("--no-ac", action="store_true", help="skip the AC power flow of every step")
    p.add_argument("--ac-loop", type=int, nargs="?", const=5, default=1, metavar="N",
                   help="closed AC loop: tighten the linear limits where AC finds violations and "
                        "re-solve, at most N solves (default 5)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("monitor", help="air quality: coverage, QC flags, hours per AQI category, worst episodes")
    p.add_argument("target", help="model name or .toml, or a Beijing PRSA / five-cities / AirQualityUCI file or folder")
    p.add_argument("--standard", choices=["china", "epa"], help="AQI standard (default: the model's; china for Chinese data)")
    p.add_argument("--png", type=Path, help="also write a PNG of the AQI by station over time")
    p.set_defaults(func=cmd_monitor)

    p = sub.add_parser("forecast", help="forecasts with 80 and 95 % intervals, stored as a run")
    p.add_argument("model", help="model file or shipped model name, or a data file or folder")
    p.add_argument("--issue-time", required=True, help="first forecast hour (ISO 8601; no offset means UTC)")
    p.add_argument("--horizon", default="48h", help="hours ahead, e.g. 48h or 2d (default: 48h)")
    p.set_defaults(func=cmd_forecast)

    p = sub.add_parser("app", help="the Dash app over the run store (open http://HOST:PORT)")
    p.add_argument("--store", default=argparse.SUPPRESS, help="run store folder (same as the global --store)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8050)
    p.set_defaults(func=cmd_app)

    p = sub.add_parser("inspect", help="summarise a model: network, assets, window, series")
    p.add_argument("model", nargs="?", default=None, help="model file or shipped model name (default: default)")
    p.set_defaults(func=cmd_inspect)

    data = sub.add_parser("data", help="public data sets the models read").add_subparsers(
        dest="data_command", required=True, metavar="ACTION")
    p = data.add_parser("list", help="which files each model needs, and where they are published")
    p.set_defaults(func=cmd_data_list)
    p = data.add_parser("fetch", help="download a public data set into the data folder")
    p.add_argument("name")
    p.set_defaults(func=cmd_data_fetch)

    runs = sub.add_parser("runs", help="the run store: list, show, export").add_subparsers(
        dest="runs_command", required=True, metavar="ACTION")
    p = runs.add_parser("list", help="runs in the store, newest first")
    p.add_argument("--model")
    p.add_argument("--status")
    p.add_argument("--limit", type=int)
    p.set_defaults(func=cmd_runs_list)
    p = runs.add_parser("show", help="one run's status, key figures and explanation")
    p.add_argument("run_id")
    p.set_defaults(func=cmd_runs_show)
    p = runs.add_parser("export", help="CSV of one variable, or a folder of CSVs of all")
    p.add_argument("run_id")
    p.add_argument("--variable", help="e.g. gen_p_mw (default: every variable, into a folder)")
    p.add_argument("--ev-statement", action="store_true",
                   help="per-EV-session energy, cost and CO2 (marginal and average) instead")
    p.add_argument("--out", required=True, type=Path, help="CSV file (with --variable or --ev-statement) or folder")
    p.set_defaults(func=cmd_runs_export)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except GridoptError as exc:
        err.print(f"gridopt: error: {exc}", markup=False)
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("gridopt: interrupted")
        return 130
    except Exception as exc:  # an internal error: one line, the traceback only with --debug
        if args.debug:
            raise
        err.print(f"gridopt: internal error: {type(exc).__name__}: {exc} (rerun with --debug)", markup=False)
        return 1


if __name__ == "__main__":
    sys.exit(main())
