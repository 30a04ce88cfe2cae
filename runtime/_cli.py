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

from host_functions import ExampleCRM

from ._bench import add_bench_parser, bench_main
from ._build import cache_dir, guest_component
from ._errors import GuestBuildError, UsageError
from ._limits import Limits
from ._result import ExecutionResult
from ._sandbox import Sandbox

__all__ = ["main"]

DEMO = """\
# The embedded demo: "tag the 200 active candidates as reviewed" as ONE code
# action instead of 201 tool round trips. The sandbox grants three tools of an
# example CRM (list_candidates, get_candidate, tag_candidate) and nothing else.
import asyncio

cands = list_candidates(status="active", page_size=500)  # a plain call blocks
print(f"{len(cands)} active candidates")

# Many calls in flight at once, the way programmatic tool calling does it:
await asyncio.gather(*[tag_candidate(c["id"], "reviewed") for c in cands])

first = get_candidate(cands[0]["id"])
print("first one now:", first["name"], first["tags"])

try:
    tag_candidate(999_999, "reviewed")
except ToolError as exc:  # a failed tool call is an exception the script can handle
    print("handled:", exc)

try:
    open("/etc/passwd")
except OSError as exc:  # no filesystem, network or environment in here
    print("denied:", type(exc).__name__)

{"tagged": len(cands), "first": first["tags"]}  # only the aggregate goes back
"""


_DEFAULTS = Limits()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="otc", description="Run untrusted Python in a WebAssembly sandbox.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run a Python file ('-' for stdin) in a fresh sandbox")
    run.add_argument("file", help="path of the script, or - to read it from stdin")
    demo = commands.add_parser("demo", help="run the embedded demo (printed first) against the example CRM")
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
    run.add_argument(
        "--example-crm", action="store_true", help="grant the example CRM's tools (the default grants none)"
    )
    commands.add_parser("build", help="build and cache the guest component now, and print where it is")
    add_bench_parser(commands)
    # Listed for --help only: main() hands `otc serve ...` to runtime.server before parsing.
    commands.add_parser("serve", help="run the executor daemon (HTTP API; needs the 'serve' extra)", add_help=False)
    return parser


def _serve(argv: list[str]) -> int:
    # Imported here: the daemon's dependencies are the optional 'serve' extra.
    try:
        from .server._cli import main as serve_main
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] not in {"fastapi", "starlette", "uvicorn"}:
            raise
        print(
            f"otc serve: {exc.name} is missing; install the 'serve' extra: pip install 'otc-runtime[serve]'",
            file=sys.stderr,
        )
        return 2
    return serve_main(argv)


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


def _compare_agents() -> None:
    # Imported here: the meta-tools are not needed by `otc run`.
    from .llm._crm_agents import PROMPT, STRATEGIES, run_crm_agent
    from .llm.providers import anthropic

    print("-" * 60)
    print(f"The same job for a model ({PROMPT!r}), scripted, in Anthropic's format:")
    print(f"{'strategy':<14}{'model calls':>12}{'tool round trips':>17}{'tool output':>15}{'history sent':>16}")
    for strategy in STRATEGIES:
        run, crm = run_crm_agent(strategy, anthropic)
        print(
            f"{strategy:<14}{run.model_calls:>12}{run.tool_round_trips:>17}{run.tool_output_bytes:>9,} bytes"
            f"{run.history_bytes_sent:>10,} bytes  ({len(crm.tagged('reviewed'))} tagged)"
        )
    print("(tool output: what the tools returned into the model's context; history sent: the")
    print(" conversation re-sent on every model call, what a provider bills as input)")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``otc`` command; returns the exit status."""
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == ["serve"]:
        return _serve(words[1:])
    args = _parser().parse_args(words)
    try:
        if args.command == "bench":
            return bench_main(args)
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
        crm = ExampleCRM(active=200) if args.command == "demo" or args.example_crm else None
        tools = crm.toolset() if crm is not None else None
        with Sandbox(tools=tools, limits=limits, pool_size=0) as sandbox:
            # Through arun, so the guest runs off the main thread: Ctrl-C
            # cancels the asyncio task, which stops the guest within a tick.
            result = asyncio.run(sandbox.arun(code))
        status = _report(result, args.json)
        if crm is not None and not args.json:
            failed = sum(call.outcome != "ok" for call in result.tool_calls)
            print(
                f"[host] {len(result.tool_calls)} tool calls ({failed} failed) in {result.duration * 1000:.0f} ms; "
                f"the CRM now has {len(crm.tagged('reviewed'))} candidates tagged 'reviewed'",
                file=sys.stderr,
            )
        if args.command == "demo" and not args.json:
            _compare_agents()
        return status
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
