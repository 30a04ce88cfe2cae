"""Rate limits, the concurrency ceiling, and runs that fail without harming their neighbours."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from server_harness import AsgiHarness, Auth

from runtime.server import BackgroundServer, ConfigError, RateLimit
from runtime.server._rate_limit import RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(per_second=2, burst=3), clock=clock)

    assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire("a") == pytest.approx(0.5)
    assert limiter.acquire("b") == 0.0  # buckets are per key
    clock.now += 0.5
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") == pytest.approx(0.5)
    clock.now += 100
    assert [limiter.acquire("a") for _ in range(4)][-1] > 0  # refills to the burst, not beyond


def test_token_bucket_is_thread_safe() -> None:
    limiter = RateLimiter(RateLimit(per_second=1e-9, burst=500), clock=FakeClock())
    granted: list[int] = []

    def take() -> None:
        granted.append(sum(limiter.acquire("k") == 0.0 for _ in range(100)))

    threads = [threading.Thread(target=take) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(granted) == 500


def test_idle_buckets_are_pruned() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(per_second=1, burst=1), clock=clock, max_keys=10)
    for i in range(10):
        limiter.acquire(f"k{i}")
    clock.now += 5  # every bucket refilled: they hold nothing a missing bucket does not
    limiter.acquire("new")
    assert len(limiter) == 1


@pytest.mark.parametrize(
    "fields",
    [{"per_second": 0, "burst": 1}, {"per_second": 1, "burst": 0}, {"per_second": float("inf"), "burst": 1}],
    ids=["zero-rate", "zero-burst", "infinite-rate"],
)
def test_invalid_rate_limits(fields: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        RateLimit(**fields)


@pytest.fixture(scope="module")
def limited(make_app: Callable[..., FastAPI]) -> Iterator[AsgiHarness]:
    """A server with tight per-caller limits: 2 executions at once then one per 2 s; 3 tool calls then 1/s."""
    harness = AsgiHarness(
        make_app(
            execution_rate=RateLimit(per_second=0.5, burst=2),
            tool_call_rate=RateLimit(per_second=1, burst=3),
            max_concurrent_executions=2,
        )
    )
    yield harness
    harness.close()


def test_execution_rate_limit_is_per_caller(limited: AsgiHarness, auth: Auth) -> None:
    first, second, third = (
        limited.request("POST", "/v1/executions", json={"code": f"{i}"}, headers=auth("alice")) for i in range(3)
    )
    other = limited.request("POST", "/v1/executions", json={"code": "'bob'"}, headers=auth("bob"))

    assert [first.status_code, second.status_code, third.status_code] == [200, 200, 429]
    assert int(third.headers["retry-after"]) == 2
    body = third.json()
    assert body["reason"] == "rate_limited"
    assert 1.0 < body["retry_after"] <= 2.0
    assert "rate limit" in body["detail"]
    assert other.json()["value"] == "bob"


def test_tool_call_rate_limit_fails_the_call_not_the_run(limited: AsgiHarness, auth: Auth) -> None:
    code = (
        "out = []\n"
        "for i in range(5):\n"
        "    try:\n"
        "        out.append(echo(i))\n"
        "    except ToolError as exc:\n"
        "        out.append(str(exc))\n"
        "out"
    )
    response = limited.request("POST", "/v1/executions", json={"code": code, "tools": ["echo"]}, headers=auth("dave"))
    metrics = limited.request("GET", "/metrics").text

    body = response.json()
    assert body["ok"] is True
    assert body["value"][:3] == [0, 1, 2]
    assert all("tool-call rate limit reached" in message for message in body["value"][3:])
    assert [call["outcome"] for call in body["tool_calls"]] == ["ok", "ok", "ok", "error", "error"]
    assert "otc_tool_calls_rate_limited_total 2" in metrics


def test_concurrency_ceiling_answers_429_at_once(limited: AsgiHarness, auth: Auth) -> None:
    async def scenario() -> tuple[list[httpx.Response], httpx.Response, float]:
        client = limited.client
        sleepers = [
            asyncio.ensure_future(
                client.post("/v1/executions", json={"code": "import time\ntime.sleep(1.0)\n'slept'"}, headers=auth(who))
            )
            for who in ("carol", "bob")
        ]
        while (await client.get("/healthz")).json()["in_flight"] < 2:
            await asyncio.sleep(0.01)
        started = asyncio.get_running_loop().time()
        refused = await client.post("/v1/executions", json={"code": "1"}, headers=auth("dave"))
        waited = asyncio.get_running_loop().time() - started
        return list(await asyncio.gather(*sleepers)), refused, waited

    slept, refused, waited = limited.call(scenario())

    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["reason"] == "busy"
    assert waited < 0.5  # answered, not queued behind the sleepers
    assert [response.json()["value"] for response in slept] == ["slept", "slept"]
    assert limited.request("GET", "/healthz").json()["in_flight"] == 0


FAILING = {
    "timeout": ("print('spin')\nwhile True: pass", {"timeout": 0.5}, "TimeoutExceeded"),
    "crash": ("import os\nos._exit(0)", None, "GuestCrashed"),
    "memory": ("x = bytearray(1 << 30)", None, "MemoryLimitExceeded"),
    "output": ("while True: print('x' * 1000)", None, "OutputLimitExceeded"),
    "recursion": ("def f(n): return f(n + 1)\nf(0)", None, "RecursionLimitExceeded"),
    "exception": ("raise ValueError('boom')", None, "GuestException"),
}


def test_failing_runs_do_not_affect_concurrent_ones(live: BackgroundServer, auth: Auth) -> None:
    async def scenario() -> tuple[dict[str, Any], list[Any]]:
        async with httpx.AsyncClient(base_url=live.url, headers=auth("alice"), timeout=30) as client:

            async def run(code: str, limits: dict[str, Any] | None = None) -> Any:
                body: dict[str, Any] = {"code": code} if limits is None else {"code": code, "limits": limits}
                response = await client.post("/v1/executions", json=body)
                assert response.status_code == 200, response.text
                return response.json()

            bad = [run(code, limits) for code, limits, _ in FAILING.values()]
            good = [run(f"import time\nprint({i})\ntime.sleep(0.01)\n{{'i': {i}}}") for i in range(24)]
            results = await asyncio.gather(*bad, *good)
            return dict(zip(FAILING, results[: len(bad)], strict=True)), results[len(bad) :]

    failed, succeeded = asyncio.run(scenario())

    for name, (_, _, expected) in FAILING.items():
        assert failed[name]["error"]["error"] == expected, (name, failed[name]["error"])
    for i, body in enumerate(succeeded):
        assert (body["ok"], body["stdout"], body["value"]) == (True, f"{i}\n", {"i": i})
