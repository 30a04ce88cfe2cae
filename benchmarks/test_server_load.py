"""The executor daemon under load: many concurrent clients on loopback.

Goals (the issue's): >= 500 trivial executions per second with p99 latency
<= 20 ms on this 2-core machine, and 0 lost or mixed-up results.

How it is measured: ``otc serve`` runs in a subprocess of its own (its own
interpreter and GIL, as in production), with no tools, no rate limits, a
concurrency ceiling above the number of clients (so nothing is answered 429)
and otherwise the default configuration: once with one process (the
default), once with ``--workers 2``, one per core (``WORKERS``). This process is the load generator:
each client is an asyncio task with its own keep-alive connection; the
clients post ``print(n)\\nn`` with a unique ``n`` for ``DURATION`` seconds,
after a short warm-up. Both processes share the
machine's two cores, so the load generator's own CPU time is in the figures;
it speaks HTTP/1.1 over asyncio streams (``_Connection``) to keep that small.

Three shapes (``SHAPES``). The issue's 200 clients, first back to back (a
closed loop): that measures how many executions the daemon can answer per
second. A closed loop of ``c`` clients has ``c / rate`` mean latency (Little's
law): 200 clients at 500 exec/s would wait 400 ms each, so its latency is
queueing, whatever the daemon does. Then the same 200 clients together
offering 500 exec/s (an open loop: client ``i`` sends its ``k``-th request at
``(k * 200 + i) / 500`` s): the goal's rate, and the latency a request sees
at it. A client whose previous request is still out sends late, and its
latency counts from when it should have sent (no coordinated omission).
Last, one client back to back: latency without queueing.

Context figures: the server's own mean time from admission to result over
the measured window (its ``/metrics`` histogram), and the CPU time the server's processes and the load
generator spent per execution (``/proc`` and ``getrusage``; Linux), which
shows where the two cores went.

Every response is checked against its request (status 200, ``ok``, ``stdout``
and ``value`` equal to its own ``n``): a response for another request, or a
request without a response, fails the benchmark. Latency is client-side,
from sending the request (or when it was due) to having parsed the response.
Timings are never asserted.

With ``--benchmark-disable`` (how CI runs it) the runs are bounded: 20
clients for 3 s (offering 50 exec/s in the open loop: the same per client),
and one client for 1 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import json
import os
import resource
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from bench_support import Record, cpu_times, stolen
from bench_support import quick as bench_quick
from pytest_benchmark.fixture import BenchmarkFixture

SHAPES = {
    # name: ((clients, seconds), (clients, seconds) with --benchmark-disable, offered exec/s or None: back to back)
    "200-clients": ((200, 30.0), (20, 3.0), None),
    "200-clients-500-per-s": ((200, 30.0), (20, 3.0), 500.0),
    "1-client": ((1, 5.0), (1, 1.0), None),
}
"""The issue's 200 clients back to back (capacity) and at the goal's rate
(latency there), and one client at a time: latency without queueing."""
WARM_UP = 1.0
MAX_CONCURRENT = 256
WORKERS = [pytest.param(1, id="1-process"), pytest.param(2, id="2-workers")]
"""``otc serve`` as configured by default, and with one worker process per core."""


@dataclass
class Load:
    """What one load run saw."""

    sent: int = 0
    answered: int = 0
    lost: Counter[str] = field(default_factory=Counter)
    """Requests without a response, by exception (a broken connection, a timeout)."""
    errors: Counter[str] = field(default_factory=Counter)
    """Responses other than 200, by status."""
    mixed_up: int = 0
    """200 responses whose output or value is not their own request's."""
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    server_cpu: float = 0.0
    """CPU seconds the server process used during the measured window."""
    client_cpu: float = 0.0
    """CPU seconds this process (the load generator) used during the measured window."""
    load_average: float = 0.0
    """The machine's 1-minute load average when the measured window began (other work on the cores)."""
    stolen: float = 0.0
    """The share of the machine's CPU time the hypervisor took during the measured window."""
    server_mean: float = 0.0
    """The server's mean seconds from admission to result over the measured window."""


@dataclass(frozen=True)
class Daemon:
    url: str
    token: str
    pid: int
    workers: int


def _process_cpu(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` and its live descendants
    (a supervisor's workers) have used, from ``/proc``; 0.0 where there is none."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(_process_cpu(int(child)) for child in children)


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module", params=WORKERS)
def daemon(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """``otc serve`` in a subprocess, ready for requests."""
    workers: int = request.param
    folder = tmp_path_factory.mktemp("daemon")
    token = secrets.token_urlsafe(24)
    (folder / "tokens.txt").write_text(f"{token} load\n")
    port = _free_port()
    (folder / "server.toml").write_text(
        f'port = {port}\ntoken_file = "tokens.txt"\nmax_concurrent_executions = {MAX_CONCURRENT}\n'
    )
    command = [sys.executable, "-m", "runtime._cli", "serve", "--config", str(folder / "server.toml")]
    command += ["--no-rate-limits", "--no-access-log", "--log-level", "warning", "--workers", str(workers)]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"otc serve did not start: {process.communicate()[1]}") from None
                time.sleep(0.1)
        yield Daemon(url, token, process.pid, workers)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


class _Connection:
    """One keep-alive HTTP/1.1 connection that posts JSON: the load generator's client.

    It speaks HTTP directly over asyncio streams because the generator shares
    the two cores with the server: an ``httpx.AsyncClient`` per client cost
    1.8 ms of CPU per request here, a third of what the server spent, this
    costs about 0.1 ms. Responses must carry ``Content-Length`` (the daemon's
    JSON responses do); anything else is a protocol error, counted as lost.
    """

    def __init__(self, daemon: Daemon) -> None:
        host, _, port = daemon.url.removeprefix("http://").partition(":")
        self._address = (host, int(port))
        self._head = f"POST {{path}} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {daemon.token}\r\n"
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, path: str, payload: object) -> tuple[int, bytes]:
        """(status, body) of a POST of ``payload`` as JSON; raises one of ``LOST``."""
        body = json.dumps(payload).encode()
        head = self._head.format(path=path) + f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        try:
            if self._streams is None:
                self._streams = await asyncio.open_connection(*self._address)
            reader, writer = self._streams
            writer.write(head.encode() + body)
            status_line, *lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            headers = dict(line.lower().split(": ", 1) for line in lines if line)
            answer = await reader.readexactly(int(headers["content-length"]))
            status = int(status_line.split(" ", 2)[1])
        except BaseException:  # a timeout (cancellation) too: the stream is out of step, never reuse it
            self._drop()
            raise
        if headers.get("connection") == "close":
            self._drop()
        return status, answer

    def _drop(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None

    async def close(self) -> None:
        if self._streams is not None:
            writer = self._streams[1]
            self._drop()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


LOST = (OSError, EOFError, ValueError, KeyError, IndexError, asyncio.LimitOverrunError, TimeoutError)
"""How a request can go without a response: a broken or refused connection, a
response cut short or malformed, no response within the timeout."""


async def _load(daemon: Daemon, clients: int, duration: float, rate: float | None) -> Load:
    load = Load()
    numbers = itertools.count()
    connections = [_Connection(daemon) for _ in range(clients)]

    async def client(index: int, start: float, until: float, record: bool) -> None:
        connection = connections[index]
        for k in itertools.count():
            if rate is None:
                started = time.perf_counter()
            else:  # this client's k-th request is due then, whether or not the last one is back
                started = start + (k * clients + index) / rate
                if started - time.perf_counter() > 0:
                    await asyncio.sleep(started - time.perf_counter())
            if started >= until:
                return
            n = next(numbers)
            if record:
                load.sent += 1
            try:
                async with asyncio.timeout(60):
                    status, answer = await connection.post("/v1/executions", {"code": f"print({n})\n{n}"})
            except LOST as exc:
                load.lost[type(exc).__name__] += record
                continue
            latency = time.perf_counter() - started
            if not record:
                continue
            load.answered += 1
            if status != 200:
                load.errors[f"HTTP {status}"] += 1
                continue
            body = json.loads(answer)
            if (body["ok"], body["stdout"], body["value"]) != (True, f"{n}\n", n):
                load.mixed_up += 1
            load.latencies.append(latency)

    try:
        async with httpx.AsyncClient(base_url=daemon.url) as http:
            warm_start = time.perf_counter()
            await asyncio.gather(*(client(i, warm_start, warm_start + WARM_UP, False) for i in range(clients)))
            histogram = await _histogram(http)
            server_cpu, client_cpu = _process_cpu(daemon.pid), _own_cpu()
            load.load_average = os.getloadavg()[0]
            machine = cpu_times()
            started = time.perf_counter()
            await asyncio.gather(*(client(i, started, started + duration, True) for i in range(clients)))
            load.elapsed = time.perf_counter() - started
            load.stolen = stolen(machine, cpu_times())
            load.server_cpu = _process_cpu(daemon.pid) - server_cpu
            load.client_cpu = _own_cpu() - client_cpu
            total, count = (after - before for after, before in zip(await _histogram(http), histogram, strict=True))
            load.server_mean = total / count if count else float("nan")
    finally:
        await asyncio.gather(*(connection.close() for connection in connections))
    return load


def _percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


@pytest.mark.parametrize("shape", list(SHAPES))
def test_server_load(benchmark: BenchmarkFixture, figure: Record, daemon: Daemon, shape: str) -> None:
    """Goal: >= 500 trivial exec/s, p99 <= 20 ms, 0 lost or mixed-up results (200 clients, 30 s)."""
    full, quick, rate = SHAPES[shape]
    clients, duration = quick if benchmark.disabled or bench_quick() else full
    if rate is not None and clients < full[0]:
        rate = rate * clients / full[0]  # the quick run: the same rate per client
    runs: list[Load] = []
    # The load generator's own collector pauses would count as the daemon's latency.
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        benchmark.pedantic(
            lambda: runs.append(asyncio.run(_load(daemon, clients, duration, rate))), rounds=1, iterations=1
        )
    finally:
        gc.enable()
        gc.unfreeze()
    (load,) = runs

    assert load.answered + sum(load.lost.values()) == load.sent
    assert not load.lost, load.lost
    assert not load.errors, load.errors
    assert load.mixed_up == 0
    done = len(load.latencies)
    pace = "back to back" if rate is None else f"{rate:.0f} exec/s offered in all (open loop)"
    section = (
        f"executor daemon: {clients} client{'s' if clients > 1 else ''} on loopback for {duration:.0f} s, "
        f"`print(n)\\nn` {pace}, otc serve subprocess, "
        f"{'1 process' if daemon.workers == 1 else f'{daemon.workers} worker processes'}"
    )
    server_cpu, client_cpu = load.server_cpu / done * 1e3, load.client_cpu / done * 1e3
    cpu = f"CPU per execution: server {server_cpu:.1f} ms, load generator {client_cpu:.1f} ms"
    figure(
        section,
        "executions per second",
        done / load.elapsed,
        "exec/s",
        goal=">= 500 exec/s" if clients > 1 and rate is None else "",
        detail=f"{done} in {load.elapsed:.1f} s; {cpu}; 1-min load average before: {load.load_average:.2f}; "
        f"CPU stolen by the hypervisor: {load.stolen:.0%}",
    )
    figure(section, "latency p50", statistics.median(load.latencies), "s", detail="client-side")
    p99 = _percentile(load.latencies, 99)
    # The goal's latency is the one at the goal's rate; back to back it is queueing (Little's law).
    figure(section, "latency p99", p99, "s", goal="<= 20 ms" if rate is not None else "", detail="client-side")
    figure(section, "server-side mean", load.server_mean, "s", detail="admission to result, from /metrics")
    failures = sum(load.lost.values()) + sum(load.errors.values()) + load.mixed_up
    figure(section, "lost + errors + mixed up", failures, "", goal="0", detail=f"of {load.sent} requests")
    benchmark.extra_info.update(
        clients=clients, duration=duration, sent=load.sent, load_average=load.load_average, workers=daemon.workers
    )


async def _histogram(http: httpx.AsyncClient) -> tuple[float, float]:
    """(sum, count) of the server's execution-duration histogram, from ``/metrics``."""
    values = {}
    for line in (await http.get("/metrics")).text.splitlines():
        name, _, value = line.partition(" ")
        if name in ("otc_execution_duration_seconds_sum", "otc_execution_duration_seconds_count"):
            values[name] = float(value)
    return values["otc_execution_duration_seconds_sum"], values["otc_execution_duration_seconds_count"]
