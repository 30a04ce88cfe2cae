"""``otc bench``: the benchmark suite on this machine, with a report.

It runs pytest on the source checkout's ``benchmarks/`` directory with
benchmarks enabled and ``--otc-report``: pytest prints the timing table and
the figures, and ``benchmarks/report.py`` writes
``benchmarks/results/<date>.json``, ``<date>.md`` and PNG charts. The suite
is not part of the wheel: installed from one, the command says to run it
from a source checkout.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

__all__ = ["add_bench_parser", "bench_main", "benchmarks_dir"]

QUICK_ENV = "OTC_BENCH_QUICK"
"""Read by the benchmarks: fewer rounds, shorter windows and a subset of BFCL (the whole run < 2 minutes)."""
LATENCY_ENV = "OTC_BENCH_MODEL_LATENCY"
"""Read by the BFCL benchmark: simulated seconds per model call."""
COMMAND_ENV = "OTC_BENCH_COMMAND"
"""Read by the report: the command to print as the way to reproduce it."""
QUICK_MAX_TIME = "0.25"
"""pytest-benchmark's time budget per auto-calibrated benchmark in quick mode (its default is 1 s)."""


def benchmarks_dir() -> Path | None:
    """``benchmarks/`` of the source checkout this package runs from, or None (installed from a wheel)."""
    candidate = Path(__file__).resolve().parent.parent / "benchmarks"
    return candidate if (candidate / "conftest.py").is_file() else None


def add_bench_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add the ``bench`` command to the ``otc`` parser's subcommands."""
    bench = subparsers.add_parser(
        "bench",
        help="run the benchmark suite against its peers; write benchmarks/results/<date>.{json,md,png}",
        description="Run benchmarks/ with pytest-benchmark and write a report (needs a source checkout "
        "and the test and bench extras: pip install -e '.[test,bench]').",
    )
    bench.add_argument("--quick", action="store_true", help="fewer rounds and a subset: finishes in under 2 minutes")
    bench.add_argument(
        "--model-latency",
        type=float,
        default=0.5,
        metavar="SECONDS",
        help="simulated model latency per model call in the BFCL benchmark (default %(default)s)",
    )
    bench.add_argument("pytest_args", nargs=argparse.REMAINDER, help="more pytest arguments after --, e.g. -- -k peers")
    return bench


def bench_main(args: argparse.Namespace) -> int:
    """Run the suite; pytest's exit status (2 when the suite or pytest is missing)."""
    directory = benchmarks_dir()
    if directory is None:
        print(
            "otc bench: the benchmark suite is not installed with the package; run it from a source checkout: "
            "git clone the repository, pip install -e '.[test,bench]', then otc bench",
            file=sys.stderr,
        )
        return 2
    missing = [name for name in ("pytest", "pytest_benchmark") if importlib.util.find_spec(name) is None]
    if missing:
        print(f"otc bench: {', '.join(missing)} not installed: pip install -e '.[test,bench]'", file=sys.stderr)
        return 2
    extra = list(args.pytest_args)
    if extra[:1] == ["--"]:
        extra = extra[1:]
    command = [sys.executable, "-m", "pytest", str(directory), "--benchmark-enable", "--otc-report", "-q"]
    env = {**os.environ, LATENCY_ENV: repr(args.model_latency)}
    shown = ["otc", "bench"]
    if args.quick:
        env[QUICK_ENV] = "1"
        command.append(f"--benchmark-max-time={QUICK_MAX_TIME}")
        shown.append("--quick")
    if args.model_latency != 0.5:
        shown.append(f"--model-latency {args.model_latency:g}")
    env[COMMAND_ENV] = " ".join([*shown, *(["--", *extra] if extra else [])])
    return subprocess.call([*command, *extra], cwd=directory.parent, env=env)
