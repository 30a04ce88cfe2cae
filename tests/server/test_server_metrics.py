"""``GET /metrics``: Prometheus text format, counters that move with the work done."""

from __future__ import annotations

import math
import re

from server_harness import AsgiHarness, Auth

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SAMPLE = re.compile(rf'^({_NAME})(?:\{{((?:{_NAME}="(?:[^"\\]|\\.)*",?)*)\}})? (\S+)$')
_LABEL = re.compile(rf'({_NAME})="((?:[^"\\]|\\.)*)"')

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> tuple[dict[str, str], Samples]:
    """({family: type}, {(sample name, labels): value}); fails on anything out of format."""
    types: dict[str, str] = {}
    helped: set[str] = set()
    samples: Samples = {}
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helped.add(line.split()[2])
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            assert kind in ("counter", "gauge", "histogram"), line
            assert name in helped, f"TYPE before HELP for {name}"
            types[name] = kind
        else:
            match = _SAMPLE.match(line)
            assert match, f"not a sample line: {line!r}"
            name, labels, value = match.groups()
            family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
            assert family in types, f"sample {name} before its TYPE"
            samples[(name, tuple(_LABEL.findall(labels or "")))] = float(value)
    return types, samples


def test_metrics_text_parses(asgi: AsgiHarness) -> None:
    response = asgi.request("GET", "/metrics")
    types, samples = parse(response.text)

    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert types == {
        "otc_executions_total": "counter",
        "otc_execution_rejections_total": "counter",
        "otc_tool_calls_total": "counter",
        "otc_tool_calls_rate_limited_total": "counter",
        "otc_limit_breaches_total": "counter",
        "otc_execution_duration_seconds": "histogram",
        "otc_executions_in_flight": "gauge",
        "otc_executions_max_concurrent": "gauge",
        "otc_pool_size": "gauge",
        "otc_pool_ready": "gauge",
        "otc_workers": "gauge",
        "otc_worker_restarts_total": "counter",
    }
    assert samples[("otc_pool_size", ())] == 2
    assert 0 <= samples[("otc_pool_ready", ())] <= 2
    assert all(name.endswith("_total") for name, kind in types.items() if kind == "counter")


def test_counters_move_with_the_work(asgi: AsgiHarness, auth: Auth) -> None:
    _, before = parse(asgi.request("GET", "/metrics").text)
    post = asgi.request
    post("POST", "/v1/executions", json={"code": "echo(1)", "tools": ["echo"]}, headers=auth("alice"))
    post("POST", "/v1/executions", json={"code": "while True: pass", "limits": {"timeout": 0.1}}, headers=auth("alice"))
    forged = "from wit_world.imports import host\nhost.call_tool('made up\\n\"', '{}')"
    post("POST", "/v1/executions", json={"code": forged, "tools": ["echo"]}, headers=auth("alice"))
    post("POST", "/v1/executions", json={"code": "1"})
    post("POST", "/v1/executions", json={"code": "1", "tools": ["nope"]}, headers=auth("alice"))
    _, after = parse(asgi.request("GET", "/metrics").text)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(labels.items()))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("otc_executions_total", outcome="ok") == 2
    assert delta("otc_executions_total", outcome="TimeoutExceeded") == 1
    assert delta("otc_limit_breaches_total", limit="timeout") == 1
    assert delta("otc_tool_calls_total", tool="echo", outcome="ok") == 1
    assert delta("otc_tool_calls_total", tool="(unknown)", outcome="rejected") == 1
    assert delta("otc_execution_rejections_total", reason="unauthorized") == 1
    assert delta("otc_execution_rejections_total", reason="invalid") == 1
    assert delta("otc_execution_duration_seconds_count") == 3
    assert delta("otc_execution_duration_seconds_bucket", le="+Inf") == 3
    assert delta("otc_execution_duration_seconds_sum") > 0.1
    buckets = [value for (name, _), value in after.items() if name == "otc_execution_duration_seconds_bucket"]
    assert buckets == sorted(buckets) and buckets[-1] == after[("otc_execution_duration_seconds_count", ())]
    assert not any(math.isnan(value) for value in after.values())


def test_pool_gauges_read_the_live_pool_not_the_configuration() -> None:
    from runtime.server._metrics import Metrics

    ready = [2]
    metrics = Metrics(tool_names=[], max_concurrent=4, pool_size=2, in_flight=lambda: 0, pool_ready=lambda: ready[0])
    assert parse(metrics.render())[1][("otc_pool_ready", ())] == 2
    ready[0] = 0  # drained under load
    _, samples = parse(metrics.render())
    assert (samples[("otc_pool_size", ())], samples[("otc_pool_ready", ())]) == (2, 0)
