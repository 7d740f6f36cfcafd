"""The case118 anchor of shared/PERFORMANCE.md: a shortcut for ``run.py`` on problem ``case118``.

The problem is ``registry.transmission_case`` on pandapower's case118 (see ``registry.py``); the
measurements, phases and checks are ``run.py``'s. Tools here: gridopt, gridopt with
``lazy_slacks=False``, HiGHS alone on gridopt's LP, and PyPSA; ``--year`` adds T = 8760 (one run,
gridopt, HiGHS alone and PyPSA only).

    python benchmarks/anchor.py --hours 24 168 720 --repeat 5
    python benchmarks/anchor.py --hours 168 --year --repeat 1 --tools gridopt highs pypsa
    python benchmarks/anchor.py --dc-flow angle

Each call of ``run.py`` writes its JSON and markdown under benchmarks/results/.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run

TOOLS = ("gridopt", "gridopt_plain", "highs", "pypsa")
YEAR_TOOLS = ("gridopt", "highs", "pypsa")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=int, nargs="+", default=[24, 168])
    parser.add_argument("--year", action="store_true", help="add T = 8760 (one run)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tools", nargs="+", choices=TOOLS, default=list(TOOLS))
    parser.add_argument("--dc-flow", choices=["angle", "cycle"], default=None)
    parser.add_argument("--time-limit", type=float, default=1500.0, help="seconds per measurement")
    args = parser.parse_args()
    common = ["--problems", "case118", "--time-limit", str(args.time_limit)]
    if args.dc_flow:
        common += ["--option", "dc_flow", args.dc_flow]
    code = run.main([*common, "--hours", *map(str, args.hours), "--repeat", str(args.repeat), "--tools", *args.tools])
    if args.year:
        year_tools = [t for t in args.tools if t in YEAR_TOOLS]
        code |= run.main([*common, "--hours", "8760", "--repeat", "1", "--tools", *year_tools])
    return code


if __name__ == "__main__":
    sys.exit(main())
