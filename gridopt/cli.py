"""The ``gridopt`` command.

Exit codes: 0 ok, 1 other failure explained in one line, 2 bad input, 3 infeasible as posed,
4 solver failure or time limit. No traceback reaches the user unless ``--debug`` is given.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from rich.console import Console
from rich.table import Table

from gridopt import __version__
from gridopt.errors import GridoptError

__all__ = ["main"]

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _table(title: str, rows: Sequence[dict[str, str]]) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    for column in rows[0] if rows else ():
        table.add_column(column)
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gridopt", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"gridopt {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    parser.add_argument("--data-dir", help="folder of public data files (default: $GRIDOPT_DATA_DIR)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

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
