"""``otc serve``: the daemon from the command line (flags override the TOML file)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runtime import GuestBuildError

from ._config import ServerConfig
from ._errors import ConfigError
from ._serve import serve

__all__ = ["main", "parser"]


def parser() -> argparse.ArgumentParser:
    """The ``otc serve`` argument parser."""
    p = argparse.ArgumentParser(
        prog="otc serve",
        description=(
            "Run the executor daemon: an HTTP API that runs scripts in the sandbox for callers with a "
            "bearer token (see /docs once it runs). Flags override the --config file."
        ),
    )
    p.add_argument("--config", type=Path, help="a TOML file of ServerConfig fields")
    p.add_argument("--host", help="interface to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="TCP port (default 8000)")
    p.add_argument("--token-file", type=Path, help="file of 'token name' lines: the callers")
    p.add_argument(
        "--tools", nargs="+", action="extend", default=[], metavar="MODULE:ATTR", help="Python tool sources (ToolSets)"
    )
    p.add_argument("--audit-log", type=Path, help="JSON-lines audit file (rotated)")
    p.add_argument("--max-concurrent", type=int, help="executions admitted at once (more get 429)")
    p.add_argument("--pool-size", type=int, help="warm interpreters kept ready")
    p.add_argument("--worker-threads", type=int, help="executions that run at once (default: twice the cores)")
    p.add_argument("--workers", type=int, help="processes serving the API (default 1; one per core uses them all)")
    p.add_argument("--no-rate-limits", action="store_true", help="disable the per-caller rate limits")
    p.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"], help="uvicorn's"
    )
    p.add_argument("--no-access-log", action="store_true", help="do not log every request")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``otc serve``; the exit status (2 for a configuration problem)."""
    args = parser().parse_args(argv)
    try:
        config = ServerConfig.from_toml(args.config) if args.config is not None else ServerConfig()
        changes: dict[str, Any] = {
            name: value
            for name, value in (
                ("host", args.host),
                ("port", args.port),
                ("token_file", args.token_file),
                ("audit_log", args.audit_log),
                ("max_concurrent_executions", args.max_concurrent),
                ("pool_size", args.pool_size),
                ("worker_threads", args.worker_threads),
                ("workers", args.workers),
            )
            if value is not None
        }
        if args.tools:
            changes["tools"] = (*config.tools, *args.tools)
        if args.no_rate_limits:
            changes.update(execution_rate=None, tool_call_rate=None)
        config = config.replace(**changes)
        started = serve(config, log_level=args.log_level, access_log=not args.no_access_log)
    except ConfigError as exc:
        print(f"otc serve: {exc}", file=sys.stderr)
        return 2
    except GuestBuildError as exc:
        print(f"otc serve: {exc}\n{exc.log}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # uvicorn has shut down gracefully by now; it re-raises the Ctrl-C so the exit status says why.
        message = "interrupted; shut down (executions in flight had up to shutdown_timeout to finish)"
        print(f"otc serve: {message}", file=sys.stderr)
        return 130
    return 0 if started else 1
