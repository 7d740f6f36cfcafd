"""The ``gridopt`` command: carbon- and air-quality-aware dispatch of renewables, batteries and EVs.

Exit codes: 0 ok, 1 other failure explained in one line, 2 bad input, 3 infeasible as posed,
4 solver failure or time limit. No traceback reaches the user unless ``--debug`` is given.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from collections.abc import Callable, Sequence

from rich.console import Console, Group
from rich.table import Table

from gridopt import __version__
from gridopt.errors import EXIT_OF_STATUS, GridoptError

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
    _print_explanation(results.attrs)
    if "kpi_episode_hours" in results.attrs:
        out.print(_policy_table(results.attrs, config.grid.currency))
    if not args.no_ac:
        _print_ac(results)
    return _stored(results.attrs, outcome.run_id, args.out)


def _print_explanation(attrs: dict, most: int | None = None) -> None:
    """The run's explanation lines (slack in use, in grid terms), the first ``most`` of them."""
    for line in [line for line in attrs.get("explanation", "").split("\n") if line][:most]:
        out.print(f"  {line}", markup=False)


def _stored(attrs: dict, run_id: str | None, out_path: Path | None) -> int:
    """Print where the run went and its status; the exit code of that status."""
    status = attrs["status"] + (f" ({attrs['incumbent']})" if "incumbent" in attrs else "")
    out.print(f"status {status}; stored as run {run_id}" + (f" and written to {out_path}" if out_path else ""))
    return EXIT_OF_STATUS.get(attrs["status"], 0)


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


def _policy_table(attrs: dict, currency: str) -> Group:
    """The air-quality policy's effect: the run with it against the same run without it and the
    baseline, for the model and each zone (episode hours of the zone), and each zone's hours per
    AQI category."""
    zones = [k[len("kpi_zone_"):-len("_episode_hours")] for k in attrs
             if k.startswith("kpi_zone_") and k.endswith("_episode_hours")]
    keyed = [(label, key, units) for label, key, units in _POLICY_ROWS]
    for zone in zones if zones != ["all"] else []:  # the whole-model zone repeats the rows above
        hours = int(attrs[f"kpi_zone_{zone}_episode_hours"])
        keyed += [(f"zone {zone} ({hours} h): {label}", f"zone_{zone}_{key}", units)
                  for label, key, units in _POLICY_ROWS[:3]]
    rows = [{"": label, "with policy": _num(attrs[f"kpi_{key}"]),
             "without policy": _num(attrs[f"kpi_nopolicy_{key}"]),
             "avoided by the policy": _num(attrs[f"kpi_policy_{key}_avoided"]),
             "baseline": _num(attrs.get(f"kpi_baseline_{key}")),
             "units": units.format(currency=currency)}
            for label, key, units in keyed]
    hours = int(attrs["kpi_episode_hours"])
    tables = [_table(f"air-quality policy: {hours} episode hours in the window", rows)]
    categories = [{"zone": zone, **{k.split("_aqi_hours_")[1].replace("_", " "): str(int(v))
                                    for k, v in attrs.items() if k.startswith(f"kpi_zone_{zone}_aqi_hours_")}}
                  for zone in zones]
    if categories:
        tables.append(_table("hours per AQI category (highest station of the zone)", categories))
    return Group(*tables)


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


def cmd_batch(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from gridopt.batch import batch_exit_code, plan_batch, run_batch

    store = _store(args)
    tasks = plan_batch(args.models, args.variants, store=store, data_dir=args.data_dir)
    columns = (TextColumn("batch"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err) as bar:
        bar_id = bar.add_task("batch", total=len(tasks))

        def progress(result) -> None:
            bar.advance(bar_id)
            note = "done before" if result.skipped else result.status
            bar.console.print(f"  {result.model}/{result.variant}: {note}", markup=False)

        results = run_batch(tasks, scheduler=args.scheduler, workers=args.workers, progress=progress)
    rows = [{"model": r.model, "variant": r.variant, "run id": r.run_id,
             "status": r.status + (" (done before)" if r.skipped else ""),
             "time s": "-" if r.seconds is None else f"{r.seconds:.1f}",
             "CO2 avoided t": _num(r.co2_avoided_t), "cost": _num(r.cost)} for r in results]
    out.print(_table(f"batch of {len(results)} runs in {store.root}", rows))
    for r in results:
        if r.message:
            out.print(f"  {r.model}/{r.variant}: {r.message}", markup=False)
    failed = sum(r.status == "failed" for r in results)
    out.print(f"{sum(not r.skipped for r in results) - failed} ran, "
              f"{sum(r.skipped for r in results)} done before, {failed} failed")
    return batch_exit_code(results)


def cmd_schedule(args: argparse.Namespace) -> int:
    import logging

    from gridopt.config import resolve_data_dir
    from gridopt.errors import ConfigError
    from gridopt.schedule import MISFIRE_GRACE_S, job_log_path, load_schedule, next_runs, run_job, serve

    jobs = load_schedule(args.file)
    store = _store(args)
    data_dir = resolve_data_dir(args.data_dir)
    data_dir = None if data_dir is None else str(data_dir)
    if args.once is not None:
        if args.once not in jobs:
            raise ConfigError(f"{args.file}: --once {args.once!r}: no such job (have: {', '.join(jobs)})")
        job = jobs[args.once]
        code = run_job(job.name, job.argv, str(store.root), data_dir)
        out.print(f"job {job.name}: exit code {code}; log {job_log_path(store, job.name)}")
        return code
    nexts = next_runs(jobs)
    rows = [{"job": j.name, "command": " ".join(["gridopt", *j.argv]), "cron": j.cron,
             "timezone": j.timezone, "next run (UTC)": f"{nexts[j.name]:%Y-%m-%d %H:%M}"}
            for j in jobs.values()]
    out.print(_table(f"jobs in {args.file}", rows))
    if args.list:
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    out.print(f"scheduler running (store {store.root}; missed runs: coalesced, run if at most "
              f"{MISFIRE_GRACE_S} s late, else skipped and logged); Ctrl-C or SIGTERM stops it")
    serve(args.file, store, data_dir)
    return 0


def cmd_dayahead(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from gridopt.config import load_model
    from gridopt.forecast import parse_horizon
    from gridopt.horizon import dayahead

    config = load_model(args.model, args.data_dir)
    horizon = parse_horizon(args.horizon)
    out.print(f"[bold]{config.name}[/bold]: day-ahead windows {args.start} to {args.end}, "
              f"{horizon} h look-ahead, {'perfect foresight' if args.perfect else 'forecasts'}, "
              f"{'rebuilt' if args.rebuild else 'persistent'} LP")
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("{task.fields[last]}"))
    with Progress(*columns, console=err) as bar:
        loading = bar.add_task("loading the scenario", total=None, last="")
        tasks: dict[str, int] = {}

        def progress(run: str, done: int, total: int, window) -> None:
            if loading in bar.task_ids:
                bar.remove_task(loading)
            if run not in tasks:
                tasks[run] = bar.add_task(f"{run} windows", total=total, last="")
            last = f"{window.issue:%Y-%m-%d}: HiGHS {window.seconds['highs']:.2f} s"
            bar.update(tasks[run], completed=done, last=last)

        outcome = dayahead(config, args.start, args.end, horizon_h=horizon, perfect=args.perfect,
                           persistent=not args.rebuild, ac=not args.no_ac, store=_store(args), out=args.out,
                           progress=progress)
    attrs = outcome.results.attrs
    out.print(_dayahead_table(attrs, outcome.perfect is not None, config.grid.currency))
    out.print(_dayahead_timing(attrs))
    _print_explanation(attrs, most=10)
    if not args.no_ac:
        _print_ac(outcome.results)
    return _stored(attrs, outcome.run_id, args.out)


_DAYAHEAD_ROWS = [
    ("cost", "cost_total", "{currency}"),
    ("CO2, marginal signal", "co2_marginal_t", "t"),
    ("CO2, average signal", "co2_average_t", "t"),
    ("NOx", "nox_t", "t"),
    ("SO2", "so2_t", "t"),
    ("PM2.5", "pm25_t", "t"),
    ("import", "import_mwh", "MWh"),
    ("EV energy unserved at departure", "ev_unmet_mwh", "MWh"),
    ("load shed", "load_shed_mwh", "MWh"),
]


def _dayahead_table(attrs: dict, compared: bool, currency: str) -> Table:
    """Key figures of the stitched run; with forecasts, perfect foresight and the difference."""
    rows = []
    for label, key, units in _DAYAHEAD_ROWS:
        row = {"": label, "run": _num(attrs[f"kpi_{key}"])}
        if compared:
            row["perfect foresight"] = _num(attrs[f"kpi_perfect_{key}"])
            row["forecast error"] = _num(attrs[f"kpi_forecast_error_{key}"])
        rows.append({**row, "units": units.format(currency=currency)})
    extra = [("imbalance, more import than planned", "imbalance_import_mwh", "MWh"),
             ("imbalance, less import than planned", "imbalance_export_mwh", "MWh"),
             ("EV energy pending at the end", "ev_pending_mwh", "MWh"),
             ("battery SOC at the end (sum)", "storage_soc_final_mwh", "MWh")]
    for label, key, units in extra:
        if f"kpi_{key}" in attrs:
            rows.append({"": label, "run": _num(attrs[f"kpi_{key}"]),
                         **({"perfect foresight": "", "forecast error": ""} if compared else {}), "units": units})
    return _table(f"day-ahead run, {attrs['dayahead_windows']} windows ({attrs['dayahead_foresight']} foresight)", rows)


def _dayahead_timing(attrs: dict) -> Table:
    """Seconds per phase over the windows: sum and median."""
    import numpy as np

    rows = [{"phase": phase, "sum s": f"{attrs[f'time_dayahead_{phase}_s']:.2f}",
             "median per window s": f"{float(np.median(attrs[f'window_time_{phase}_s'])):.4f}"}
            for phase in ("forecast", "build", "handoff", "highs", "extract", "total")]
    return _table("time per phase (build: building or updating the LP)", rows)


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
    if args.ev_statement or args.bus_statement:
        from gridopt.statements import bus_statement, ev_statement

        statement = bus_statement if args.bus_statement else ev_statement
        frame = statement(_store(args).open(args.run_id), where=f"run {args.run_id}")
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

    p = sub.add_parser("forecast", help="forecasts with 80 and 95 %% intervals, stored as a run")
    p.add_argument("model", help="model file or shipped model name, or a data file or folder")
    p.add_argument("--issue-time", required=True, help="first forecast hour (ISO 8601; no offset means UTC)")
    p.add_argument("--horizon", default="48h", help="hours ahead, e.g. 48h or 2d (default: 48h)")
    p.set_defaults(func=cmd_forecast)

    p = sub.add_parser("batch", help="many runs (models × variants) on dask; reruns skip what is done")
    p.add_argument("models", nargs="+", metavar="MODEL", help="model files or shipped model names")
    p.add_argument("--variants", type=Path, metavar="FILE",
                   help="TOML of named variants as overrides of model fields (see gridopt.batch)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="an existing dask scheduler, e.g. tcp://host:8786 (default: a LocalCluster)")
    p.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes (default 2)")
    p.set_defaults(func=cmd_batch)

    p = sub.add_parser("schedule", help="run gridopt jobs on cron expressions (APScheduler)")
    p.add_argument("file", type=Path, help="TOML schedule file of [jobs.<name>] (see gridopt.schedule)")
    p.add_argument("--once", metavar="JOB", help="run this job now and exit with its exit code")
    p.add_argument("--list", action="store_true", help="list the jobs and their next run, then exit")
    p.set_defaults(func=cmd_schedule)

    p = sub.add_parser("dayahead", help="day-ahead rolling horizon: forecast, optimize, commit a day, settle, repeat")
    p.add_argument("model", help="model file or shipped model name")
    p.add_argument("--from", dest="start", required=True, help="first day (00:00 UTC), e.g. 2016-06-06")
    p.add_argument("--to", dest="end", required=True, help="last day, inclusive")
    p.add_argument("--horizon", default="36h", help="look-ahead of each window, e.g. 36h (default 36h; 24 h are committed)")
    p.add_argument("--perfect", action="store_true", help="perfect foresight only (no forecasts, no attribution)")
    p.add_argument("--rebuild", action="store_true", help="rebuild the LP every window instead of updating it")
    p.add_argument("--no-ac", action="store_true", help="skip the AC power flow of every committed hour")
    p.add_argument("--out", type=Path, help="also write the stitched results NetCDF here")
    p.set_defaults(func=cmd_dayahead)

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
    statements = p.add_mutually_exclusive_group()
    statements.add_argument("--bus-statement", action="store_true",
                            help="per-bus energy drawn by load, EVs and storage, cost at the nodal price, CO2 instead")
    statements.add_argument("--ev-statement", action="store_true",
                            help="per-EV-session energy, cost and CO2 (marginal and average) instead")
    p.add_argument("--out", required=True, type=Path, help="CSV file (with --variable or a statement) or folder")
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
