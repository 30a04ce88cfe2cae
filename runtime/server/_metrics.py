"""Counters, a duration histogram and gauges, in Prometheus' text format (0.0.4).

Written by hand: a dozen series do not need a client library. Label values
come from a closed set (outcomes, error class names, limit names, configured
tool names) so that nothing a caller or a script sends can create series:
a tool name the script made up is counted as ``(unknown)``.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Collection, Iterable

from runtime import ExecutionResult, LimitExceeded, ToolCall

__all__ = ["CONTENT_TYPE", "DURATION_BUCKETS", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""Upper bounds (seconds) of the execution-duration histogram's buckets."""

_UNKNOWN_TOOL = "(unknown)"

Labels = tuple[tuple[str, str], ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{name}="{_escape(value)}"' for name, value in labels) + "}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class Metrics:
    """The daemon's metrics; every method is safe to call from any thread.

    ``in_flight`` and ``pool_ready`` are read when the metrics are rendered
    (the number of executions admitted and not finished; of interpreters
    ready in the warm pool).
    """

    def __init__(
        self,
        *,
        tool_names: Collection[str],
        max_concurrent: int,
        pool_size: int,
        in_flight: Callable[[], int],
        pool_ready: Callable[[], int],
    ) -> None:
        self._tool_names = frozenset(tool_names)
        self._max_concurrent = max_concurrent
        self._pool_size = pool_size
        self._in_flight = in_flight
        self._pool_ready = pool_ready
        self._lock = threading.Lock()
        self._executions: Counter[Labels] = Counter()
        self._rejections: Counter[Labels] = Counter()
        self._tool_calls: Counter[Labels] = Counter()
        self._breaches: Counter[Labels] = Counter()
        self._tool_rate_limited = 0
        self._buckets = [0] * len(DURATION_BUCKETS)
        self._duration_sum = 0.0
        self._duration_count = 0

    def execution(self, result: ExecutionResult, seconds: float) -> None:
        """Count a finished run: its outcome, its duration, a breached limit and its tool calls."""
        error = result.error
        outcome = "ok" if error is None else type(error).__name__
        with self._lock:
            self._executions[(("outcome", outcome),)] += 1
            if isinstance(error, LimitExceeded):
                self._breaches[(("limit", error.limit),)] += 1
            self._duration_sum += seconds
            self._duration_count += 1
            for i, bound in enumerate(DURATION_BUCKETS):
                if seconds <= bound:
                    self._buckets[i] += 1
                    break
        self.tool_calls(result.tool_calls)

    def tool_calls(self, calls: Iterable[ToolCall]) -> None:
        """Count calls of a run's call log by tool and outcome."""
        counted = Counter(
            (("tool", call.tool if call.tool in self._tool_names else _UNKNOWN_TOOL), ("outcome", call.outcome))
            for call in calls
        )
        if counted:
            with self._lock:
                self._tool_calls.update(counted)

    def rejection(self, reason: str) -> None:
        """Count a request turned away: ``unauthorized``, ``invalid``, ``busy`` or ``rate_limited``."""
        with self._lock:
            self._rejections[(("reason", reason),)] += 1

    def tool_call_rate_limited(self) -> None:
        """Count a tool call refused by the caller's tool-call rate limit."""
        with self._lock:
            self._tool_rate_limited += 1

    def render(self) -> str:
        """The exposition text, every family with its ``# HELP`` and ``# TYPE`` lines."""
        lines: list[str] = []

        def family(name: str, kind: str, text: str, samples: Iterable[tuple[str, Labels, float]]) -> None:
            lines.append(f"# HELP {name} {text}")
            lines.append(f"# TYPE {name} {kind}")
            lines.extend(f"{sample}{_labels(labels)} {_number(value)}" for sample, labels, value in samples)

        def counter(name: str, text: str, counts: Counter[Labels]) -> None:
            family(name, "counter", text, ((name, labels, value) for labels, value in sorted(counts.items())))

        with self._lock:
            counter("otc_executions_total", "Executions run, by outcome (ok or the error's class).", self._executions)
            counter(
                "otc_execution_rejections_total",
                "Execution requests turned away, by reason (unauthorized, invalid, busy, rate_limited).",
                self._rejections,
            )
            counter("otc_tool_calls_total", "Tool calls made by scripts, by tool and outcome.", self._tool_calls)
            family(
                "otc_tool_calls_rate_limited_total",
                "counter",
                "Tool calls refused by a caller's tool-call rate limit.",
                [("otc_tool_calls_rate_limited_total", (), self._tool_rate_limited)],
            )
            counter("otc_limit_breaches_total", "Runs stopped by a resource limit, by Limits field.", self._breaches)
            buckets: list[tuple[str, Labels, float]] = []
            cumulative = 0
            for bound, count in zip(DURATION_BUCKETS, self._buckets, strict=True):
                cumulative += count
                buckets.append(("otc_execution_duration_seconds_bucket", (("le", _number(bound)),), cumulative))
            buckets.append(("otc_execution_duration_seconds_bucket", (("le", "+Inf"),), self._duration_count))
            buckets.append(("otc_execution_duration_seconds_sum", (), self._duration_sum))
            buckets.append(("otc_execution_duration_seconds_count", (), self._duration_count))
            family(
                "otc_execution_duration_seconds",
                "histogram",
                "Seconds from admitting an execution to its result.",
                buckets,
            )
        gauges = [
            ("otc_executions_in_flight", "Executions admitted and not finished.", self._in_flight()),
            ("otc_executions_max_concurrent", "The concurrency ceiling (more are answered 429).", self._max_concurrent),
            ("otc_pool_size", "Warm interpreters the sandbox is configured to keep ready.", self._pool_size),
            (
                "otc_pool_ready",
                "Interpreters ready in the pool now (fewer while it refills under load).",
                self._pool_ready(),
            ),
        ]
        for name, text, value in gauges:
            family(name, "gauge", text, [(name, (), value)])
        return "\n".join(lines) + "\n"
