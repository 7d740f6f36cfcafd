"""How gridopt's time and memory grow with the horizon T and with the network size (buses).

Two sweeps, each measured by ``run.py`` (fresh child per measurement, medians of ``--repeat``):

- horizon: ``--time-problem`` (default case118) at T = ``--hours`` (default 24 168 720 2190);
- size: each of ``--size-problems`` (default sb_lv, sb_mv, case118, mv_oberrhein, case300, sb_hv) at
  T = ``--size-hours`` (default 168), against its number of buses.

For each sweep and for gridopt's total, HiGHS's run time within it, the floor's (HiGHS alone) run
time and gridopt's peak RSS, the growth exponent b of y = a x^b is fitted by least squares on
log-log axes. Points can be taken from earlier ``run.py`` reports (``--reuse FILE...``: any case of
the same problem and T found there is not measured again, and a tool it did not run stays a gap;
the T = 8760 anchor run, for instance).
Writes ``<out>.json``, ``<out>.md`` and ``<out>.png`` (log axes).

    python benchmarks/scaling.py --reuse benchmarks/results/<year run>.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run
from registry import PROBLEMS

SERIES = {"gridopt total s": ("gridopt", "total"), "gridopt HiGHS s": ("gridopt", "highs"),
          "floor (HiGHS alone) s": ("highs", "highs"), "gridopt peak RSS GB": ("gridopt", "peak_rss_gb")}


def fit_exponent(x, y) -> float:
    """b of y = a x^b, least squares on log-log axes."""
    return float(np.polyfit(np.log(np.asarray(x, float)), np.log(np.asarray(y, float)), 1)[0])


def sweep(points: list[tuple[str, int]], args, reused: dict, work: Path) -> list[dict]:
    """The run.py case of each (problem, T): reused when an earlier report has it, else measured."""
    cases = []
    for problem, hours in points:
        found = reused.get((problem, hours))
        cases.append(found or run.run_case(problem, hours, ["gridopt", "highs"], args, work))
    return cases


def _value(case: dict, tool: str, key: str) -> float | None:
    """A median of a finished run (None for a tool stopped at a limit, failed, or not run)."""
    m = case["median"].get(tool, {})
    return None if "stopped" in m or "error" in m else m.get(key)


def table(name: str, x_label: str, xs: list[int], cases: list[dict], local: bool) -> tuple[list[str], dict]:
    """Markdown rows of one sweep and the exponents fitted over its finished points; with ``local``
    also the exponent between the last two finished points (how fast it grows at the end)."""
    rows = [f"| {x_label} | problem | " + " | ".join(SERIES) + " |", "|---|---|" + "---|" * len(SERIES)]
    values = {label: [_value(c, tool, key) for c in cases] for label, (tool, key) in SERIES.items()}
    for k, (x, c) in enumerate(zip(xs, cases)):
        cells = [f"{values[label][k]:.2f}" if values[label][k] is not None
                 else c["median"].get(tool, {}).get("stopped", "not run") for label, (tool, _) in SERIES.items()]
        rows.append(f"| {x} | {c['problem']} | " + " | ".join(cells) + " |")
    points = {label: [(x, y) for x, y in zip(xs, ys) if y] for label, ys in values.items()}
    exponents = {label: fit_exponent(*zip(*p)) if len(p) >= 2 else None for label, p in points.items()}
    fits = [("**exponent b**, all finished points (y ∝ x^b)", exponents)]
    if local:
        fits.append(("b between the last two finished points",
                     {label: fit_exponent(*zip(*p[-2:])) if len(p) >= 2 else None for label, p in points.items()}))
    for title, fitted in fits:
        rows.append(f"| {title} | | " + " | ".join("" if b is None else f"**{b:.2f}**" for b in fitted.values()) + " |")
    return [f"**{name}**", "", *rows], exponents


def plot(path: Path, sweeps: list[tuple[str, str, list[int], list[dict], dict]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(sweeps), figsize=(6 * len(sweeps), 4.5), squeeze=False)
    for ax, (name, x_label, xs, cases, exponents) in zip(axes[0], sweeps):
        for label, (tool, key) in SERIES.items():  # measured points, and the fitted power law dashed
            pts = sorted((x, y) for x, y in zip(xs, (_value(c, tool, key) for c in cases)) if y)
            if len(pts) < 2:
                continue
            x, y = np.array(pts).T
            a = np.exp(np.mean(np.log(y) - exponents[label] * np.log(x)))
            dots = ax.plot(x, y, "o", label=f"{label} (b = {exponents[label]:.2f})")[0]
            ax.plot(x, a * x ** exponents[label], "--", color=dots.get_color(), alpha=0.6)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(x_label)
        ax.set_ylabel("seconds / GB")
        ax.set_title(name)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--time-problem", default="case118", choices=sorted(PROBLEMS))
    p.add_argument("--hours", type=int, nargs="+", default=[24, 168, 720, 2190])
    p.add_argument("--size-problems", nargs="+", choices=sorted(PROBLEMS),
                   default=["sb_lv", "sb_mv", "case118", "mv_oberrhein", "case300", "sb_hv"])
    p.add_argument("--size-hours", type=int, default=168)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--reuse", nargs="*", default=[], help="earlier run.py reports whose cases count as measured")
    p.add_argument("--time-limit", type=float, default=1500.0)
    p.add_argument("--max-rss-gb", type=float, default=16.0)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M")
    p.add_argument("--out", default=str(HERE / "results" / f"scaling-{stamp}"))
    args = p.parse_args()
    args.option_overrides = {"_runpp_steps": 1}
    reused = {(c["problem"], c["hours"]): c for f in args.reuse for c in json.loads(Path(f).read_text()).get("cases", [])
              if "gridopt" in c["median"] and c["agree"]}  # a tool it lacks is a gap in the table
    load_start = " ".join(f"{x:.2f}" for x in run.os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="gridopt-scaling-") as tmp:
        horizon = sweep([(args.time_problem, h) for h in args.hours], args, reused, Path(tmp))
        sizes = sweep([(pr, args.size_hours) for pr in args.size_problems], args, reused, Path(tmp))
    n_bus = [c["median"]["gridopt"]["buses"] for c in sizes]
    order = np.argsort(n_bus)
    n_bus, sizes = [n_bus[k] for k in order], [sizes[k] for k in order]
    t_rows, t_exp = table(f"Horizon: {args.time_problem}", "T (h)", args.hours, horizon, local=True)
    s_rows, s_exp = table(f"Network size at T = {args.size_hours}", "buses", n_bus, sizes, local=False)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    load_end = " ".join(f"{x:.2f}" for x in run.os.getloadavg())
    md = [f"Command: `python benchmarks/scaling.py {' '.join(sys.argv[1:])}`", "",
          f"Load average {load_start} at the start, {load_end} at the end. Reused: {args.reuse or 'none'}.", "",
          *t_rows, "", *s_rows, ""]
    out.with_suffix(".md").write_text("\n".join(md))
    out.with_suffix(".json").write_text(json.dumps(
        {"horizon": {"x": args.hours, "cases": horizon, "exponents": t_exp},
         "size": {"x": n_bus, "cases": sizes, "exponents": s_exp},
         "machine": run.machine(), "load_start": load_start, "load_end": load_end}, indent=1, default=str))
    plot(out.with_suffix(".png"), [(f"horizon, {args.time_problem}", "T (hours)", args.hours, horizon, t_exp),
                                   (f"network size, T = {args.size_hours}", "buses", n_bus, sizes, s_exp)])
    print("\n".join(md))


if __name__ == "__main__":
    main()
