"""The ``otc`` command line: run a script in the sandbox, or the demo.

Exit status: 0 when the script succeeded, 1 when it failed (its error is
printed), 2 for a usage problem (bad option, unreadable file, invalid code).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence

from ._build import cache_dir, guest_component
from ._errors import GuestBuildError, UsageError
from ._limits import Limits
from ._result import ExecutionResult
from ._sandbox import Sandbox

__all__ = ["main"]

DEMO = '''\
# The embedded demo: glue code an agent might write, run in a fresh sandbox.
import json, re, statistics
from collections import Counter

log = """\\
2026-11-02 GET /api/users 200 12ms
2026-11-02 GET /api/users 500 340ms
2026-11-02 POST /api/orders 201 45ms
2026-11-03 GET /api/orders 200 18ms
2026-11-03 GET /api/users 200 15ms"""
rows = [re.match(r"(\\S+) (\\S+) (\\S+) (\\d+) (\\d+)ms", line).groups() for line in log.splitlines()]
latency = [int(r[4]) for r in rows]
print("requests by path:", dict(Counter(r[2] for r in rows)))
print("errors:", [r[2] for r in rows if r[3].startswith("5")])
print("median latency:", statistics.median(latency), "ms")

# What the sandbox refuses, each caught like any Python error:
for attempt in ("open('/etc/passwd').read()", "__import__('os').environ.get('HOME')"):
    try:
        print(attempt, "->", repr(eval(attempt)))
    except OSError as exc:
        print(attempt, "->", type(exc).__name__)

{"p50_ms": statistics.median(latency), "max_ms": max(latency), "requests": len(rows)}
'''


_DEFAULTS = Limits()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="otc", description="Run untrusted Python in a WebAssembly sandbox.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run a Python file ('-' for stdin) in a fresh sandbox")
    run.add_argument("file", help="path of the script, or - to read it from stdin")
    demo = commands.add_parser("demo", help="run the embedded demo script (printed first)")
    for sub in (run, demo):
        sub.add_argument(
            "--timeout", type=float, default=_DEFAULTS.timeout, help="wall-clock seconds (default %(default)s)"
        )
        sub.add_argument(
            "--memory-mb", type=int, default=_DEFAULTS.memory_mb, help="linear memory cap (default %(default)s)"
        )
        sub.add_argument("--max-output-bytes", type=int, default=_DEFAULTS.max_output_bytes, help="stdout+stderr cap")
        sub.add_argument("--fuel", type=int, default=None, help="deterministic CPU budget (default: none)")
        sub.add_argument("--json", action="store_true", help="print the whole result as one JSON object")
    commands.add_parser("build", help="build and cache the guest component now, and print where it is")
    return parser


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from exc


def _report(result: ExecutionResult, as_json: bool) -> int:
    if as_json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, default=repr))
        return 0 if result.ok else 1
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    if result.value_kind != "none":
        shown = result.value if result.value_kind == "repr" else json.dumps(result.value, ensure_ascii=False)
        print(f"=> {shown}")
    if result.error is not None:
        error = result.error
        where = f" (line {error.line})" if error.line is not None else ""
        if error.traceback:
            sys.stderr.write(error.traceback if error.traceback.endswith("\n") else error.traceback + "\n")
        print(f"error: {type(error).__name__}: {error.message}{where}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``otc`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "build":
            print(guest_component())
            print(f"cache: {cache_dir()}")
            return 0
        limits = Limits(
            timeout=args.timeout, memory_mb=args.memory_mb, max_output_bytes=args.max_output_bytes, fuel=args.fuel
        )
        code = DEMO if args.command == "demo" else _read(args.file)
        if args.command == "demo" and not args.json:
            print(code, end="-" * 60 + "\n")
        with Sandbox(limits=limits, pool_size=0) as sandbox:
            # Through arun, so the guest runs off the main thread: Ctrl-C
            # cancels the asyncio task, which stops the guest within a tick.
            result = asyncio.run(sandbox.arun(code))
        return _report(result, args.json)
    except UsageError as exc:
        print(f"otc: {exc}", file=sys.stderr)
        return 2
    except GuestBuildError as exc:
        print(f"otc: {exc}\n{exc.log}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("otc: interrupted; the script was stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
