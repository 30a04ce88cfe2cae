"""Counters, a duration histogram and gauges, in Prometheus' text format (0.0.4).

Written by hand: a dozen series do not need a client library. Label values
come from a closed set (outcomes, error class names, limit names, configured
tool names) so that nothing a caller or a script sends can create series:
a tool name the script made up is counted as ``(unknown)``.

Because the sets are closed, every series has a fixed place in a flat array
of counts (``Layout``), one row per worker process: the daemon's workers
share the array (see ``_shared``), each writes its own row, and whichever
answers ``/metrics`` adds the rows up.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable, Collection, Iterable
from typing import Any, TypeVar, get_args

from runtime import ExecutionError, ExecutionResult, LimitExceeded, ToolCall
from runtime._result import ToolOutcome

__all__ = ["CONTENT_TYPE", "DURATION_BUCKETS", "Layout", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""Upper bounds (seconds) of the execution-duration histogram's buckets."""

_UNKNOWN_TOOL = "(unknown)"
REJECTION_REASONS = ("unauthorized", "invalid", "busy", "rate_limited")

Labels = tuple[tuple[str, str], ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{name}="{_escape(value)}"' for name, value in labels) + "}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


_E = TypeVar("_E", bound=ExecutionError)


def _subclasses(cls: type[_E]) -> list[type[_E]]:
    found: list[type[_E]] = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


class Layout:
    """Where each series of a daemon with ``tool_names`` is in a row of counts."""

    def __init__(self, tool_names: Collection[str]) -> None:
        errors: list[type[ExecutionError]] = [ExecutionError, *_subclasses(ExecutionError)]
        outcomes = ["ok", *sorted({error.__name__ for error in errors})]
        limits = sorted({error.limit for error in _subclasses(LimitExceeded) if error.limit})
        tools = [*sorted(set(tool_names)), _UNKNOWN_TOOL]
        self.families: dict[str, list[Labels]] = {
            "otc_executions_total": [(("outcome", outcome),) for outcome in outcomes],
            "otc_execution_rejections_total": [(("reason", reason),) for reason in REJECTION_REASONS],
            "otc_tool_calls_total": [
                (("tool", tool), ("outcome", outcome)) for tool in tools for outcome in get_args(ToolOutcome)
            ],
            "otc_limit_breaches_total": [(("limit", limit),) for limit in limits],
            "otc_tool_calls_rate_limited_total": [()],
            "otc_execution_duration_seconds_bucket": [(("le", _number(bound)),) for bound in DURATION_BUCKETS],
            "otc_execution_duration_seconds_sum": [()],
            "otc_execution_duration_seconds_count": [()],
        }
        self.index: dict[tuple[str, Labels], int] = {}
        for family, series in self.families.items():
            for labels in series:
                self.index[(family, labels)] = len(self.index)
        self.width = len(self.index)
        """Counts in a row."""


class Metrics:
    """The daemon's metrics; every method is safe to call from any thread.

    ``counts`` holds ``rows`` rows of ``Layout(tool_names).width`` counts
    (default: a private array of one row), one per worker process; this
    process writes row ``row`` and renders the sum of all. ``in_flight``,
    ``pool_ready`` and ``worker_restarts`` are read when the metrics are
    rendered (the number of executions admitted and not finished; of
    interpreters ready in the warm pool; of workers replaced after dying).
    """

    def __init__(
        self,
        *,
        tool_names: Collection[str],
        max_concurrent: int,
        pool_size: int,
        in_flight: Callable[[], int],
        pool_ready: Callable[[], int],
        counts: Any = None,
        row: int = 0,
        rows: int = 1,
        worker_restarts: Callable[[], int] = lambda: 0,
    ) -> None:
        self.layout = layout = Layout(tool_names)
        self._tool_names = frozenset(tool_names)
        self._max_concurrent = max_concurrent
        self._pool_size = pool_size
        self._in_flight = in_flight
        self._pool_ready = pool_ready
        self._counts = counts if counts is not None else (ctypes.c_double * (rows * layout.width))()
        if len(self._counts) != rows * layout.width:
            raise ValueError(f"counts holds {len(self._counts)} values, not {rows} rows of {layout.width}")
        self._rows = rows
        self._worker_restarts = worker_restarts
        self._base = row * layout.width
        self._lock = threading.Lock()  # this process's threads share its row; other processes only read it
        self._at = layout.index
        self._buckets = [
            self._at[("otc_execution_duration_seconds_bucket", labels)]
            for labels in layout.families["otc_execution_duration_seconds_bucket"]
        ]

    def _add(self, index: int, amount: float = 1.0) -> None:
        self._counts[self._base + index] += amount

    def execution(self, result: ExecutionResult, seconds: float) -> None:
        """Count a finished run: its outcome, its duration, a breached limit and its tool calls."""
        error = result.error
        outcome = "ok" if error is None else type(error).__name__
        at = self._at
        executions = at.get(("otc_executions_total", (("outcome", outcome),)))
        if executions is None:  # an error class defined after the layout was made
            executions = at[("otc_executions_total", (("outcome", "ExecutionError"),))]
        with self._lock:
            self._add(executions)
            if isinstance(error, LimitExceeded):
                breach = at.get(("otc_limit_breaches_total", (("limit", error.limit),)))
                if breach is not None:
                    self._add(breach)
            for i, bound in enumerate(DURATION_BUCKETS):
                if seconds <= bound:
                    self._add(self._buckets[i])
                    break
            self._add(at[("otc_execution_duration_seconds_sum", ())], seconds)
            self._add(at[("otc_execution_duration_seconds_count", ())])
        self.tool_calls(result.tool_calls)

    def tool_calls(self, calls: Iterable[ToolCall]) -> None:
        """Count calls of a run's call log by tool and outcome."""
        at = self._at
        indices = [
            at[
                (
                    "otc_tool_calls_total",
                    (
                        ("tool", call.tool if call.tool in self._tool_names else _UNKNOWN_TOOL),
                        ("outcome", call.outcome),
                    ),
                )
            ]
            for call in calls
        ]
        if indices:
            with self._lock:
                for index in indices:
                    self._add(index)

    def rejection(self, reason: str) -> None:
        """Count a request turned away: ``unauthorized``, ``invalid``, ``busy`` or ``rate_limited``."""
        index = self._at[("otc_execution_rejections_total", (("reason", reason),))]
        with self._lock:
            self._add(index)

    def tool_call_rate_limited(self) -> None:
        """Count a tool call refused by the caller's tool-call rate limit."""
        index = self._at[("otc_tool_calls_rate_limited_total", ())]
        with self._lock:
            self._add(index)

    def totals(self) -> list[float]:
        """Every series' count, summed over the rows."""
        width, counts = self.layout.width, self._counts
        sums = [0.0] * width
        for row in range(self._rows):
            values = counts[row * width : (row + 1) * width]
            sums = [a + b for a, b in zip(sums, values, strict=True)]
        return sums

    def render(self) -> str:
        """The exposition text, every family with its ``# HELP`` and ``# TYPE`` lines."""
        lines: list[str] = []
        totals = self.totals()
        at = self._at

        def family(name: str, kind: str, text: str, samples: Iterable[tuple[str, Labels, float]]) -> None:
            lines.append(f"# HELP {name} {text}")
            lines.append(f"# TYPE {name} {kind}")
            lines.extend(f"{sample}{_labels(labels)} {_number(value)}" for sample, labels, value in samples)

        def counter(name: str, text: str, *, always: bool = False) -> None:
            seen = ((labels, totals[at[(name, labels)]]) for labels in self.layout.families[name])
            family(name, "counter", text, sorted((name, labels, value) for labels, value in seen if value or always))

        counter("otc_executions_total", "Executions run, by outcome (ok or the error's class).")
        counter(
            "otc_execution_rejections_total",
            "Execution requests turned away, by reason (unauthorized, invalid, busy, rate_limited).",
        )
        counter("otc_tool_calls_total", "Tool calls made by scripts, by tool and outcome.")
        counter(
            "otc_tool_calls_rate_limited_total", "Tool calls refused by a caller's tool-call rate limit.", always=True
        )
        counter("otc_limit_breaches_total", "Runs stopped by a resource limit, by Limits field.")
        family(
            "otc_worker_restarts_total",
            "counter",
            "Worker processes that died and were replaced.",
            [("otc_worker_restarts_total", (), self._worker_restarts())],
        )
        count = totals[at[("otc_execution_duration_seconds_count", ())]]
        buckets: list[tuple[str, Labels, float]] = []
        cumulative = 0.0
        for bound, index in zip(DURATION_BUCKETS, self._buckets, strict=True):
            cumulative += totals[index]
            buckets.append(("otc_execution_duration_seconds_bucket", (("le", _number(bound)),), cumulative))
        buckets.append(("otc_execution_duration_seconds_bucket", (("le", "+Inf"),), max(count, cumulative)))
        buckets.append(
            ("otc_execution_duration_seconds_sum", (), totals[at[("otc_execution_duration_seconds_sum", ())]])
        )
        buckets.append(("otc_execution_duration_seconds_count", (), max(count, cumulative)))
        family(
            "otc_execution_duration_seconds",
            "histogram",
            "Seconds from admitting an execution to its result.",
            buckets,
        )
        gauges = [
            ("otc_executions_in_flight", "Executions admitted and not finished.", self._in_flight()),
            ("otc_executions_max_concurrent", "The concurrency ceiling (more are answered 429).", self._max_concurrent),
            ("otc_workers", "Worker processes serving the API.", self._rows),
            ("otc_pool_size", "Warm interpreters the workers' pools are configured to keep ready.", self._pool_size),
            (
                "otc_pool_ready",
                "Interpreters ready in the pool now (fewer while it refills under load).",
                self._pool_ready(),
            ),
        ]
        for name, text, value in gauges:
            family(name, "gauge", text, [(name, (), value)])
        return "\n".join(lines) + "\n"
