"""``otc serve --workers 2``: two processes answer, and the server's limits,
metrics and audit log are the server's, not each worker's.

Which worker answers a request is the kernel's choice; every request here
goes on a connection of its own, so they spread over both (an execution's id
starts with its worker's prefix, which shows it).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from server_harness import free_port, wait_healthy

from runtime import ExecutionResult
from runtime.client import Client, OutputEvent
from runtime.server import BackgroundServer, ConfigError, ServerConfig, StaticTokenVerifier, serve

BURST = 40
"""Executions each caller may start (the rate refills nothing within a test run)."""
TOOL_BURST = 5
CEILING = 2


@dataclass
class Daemon:
    url: str
    process: subprocess.Popen[str]
    audit: Path
    tokens: dict[str, str]

    def post(self, name: str, code: str, **fields: Any) -> httpx.Response:
        """One execution, on a new connection."""
        headers = {"Authorization": f"Bearer {self.tokens[name]}"}
        return httpx.post(f"{self.url}/v1/executions", json={"code": code, **fields}, headers=headers, timeout=30)

    def metric(self, sample: str) -> float:
        text = httpx.get(f"{self.url}/metrics").text
        lines = [line for line in text.splitlines() if line.startswith(sample + " ")]
        return float(lines[0].split()[-1]) if lines else 0.0

    def workers(self) -> list[int]:
        """The worker processes' pids (the supervisor's children but its resource tracker)."""
        pid = self.process.pid
        workers = []
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            try:
                if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                    workers.append(int(child))
            except FileNotFoundError:  # reaped since it was listed (a killed worker)
                pass
        return workers


def _prefix(response: httpx.Response) -> str:
    return response.headers["x-execution-id"][:16]


def _start(tmp_path: Path, token_file: Path, tokens: dict[str, str], extra: str = "") -> Daemon:
    port = free_port()
    config = tmp_path / "server.toml"
    config.write_text(
        f'port = {port}\ntoken_file = "{token_file}"\naudit_log = "audit.jsonl"\npool_size = 1\nworkers = 2\n'
        f'tools = ["server_tools:TOOLS"]\nmax_concurrent_executions = {CEILING}\n{extra}'
        f"[ceilings]\ntimeout = 10.0\n"
        f"[execution_rate]\nper_second = 1e-6\nburst = {BURST}\n"
        f"[tool_call_rate]\nper_second = 1e-6\nburst = {TOOL_BURST}\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    command = [sys.executable, "-m", "runtime._cli", "serve", "--config", str(config), "--no-access-log"]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(process, url)
        deadline = time.monotonic() + 60
        while httpx.get(f"{url}/healthz").json()["workers"] < 2:  # the other may still be starting
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
    except BaseException:
        process.kill()
        process.communicate()
        raise
    return Daemon(url, process, tmp_path / "audit.jsonl", tokens)


Outcome = list[BaseException | httpx.Response]


def _in_background(daemon: Daemon, name: str, code: str) -> tuple[threading.Thread, Outcome]:
    """Post ``code`` for ``name`` on a thread, and return once the server counts it in flight:
    the thread, and where its response (or the connection's failure) will be."""
    outcome: Outcome = []

    def post() -> None:
        try:
            outcome.append(daemon.post(name, code))
        except httpx.TransportError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=post)
    thread.start()
    deadline = time.monotonic() + 10
    while httpx.get(f"{daemon.url}/healthz").json()["in_flight"] != 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return thread, outcome


def _stop(daemon: Daemon) -> str:
    if daemon.process.poll() is None:
        daemon.process.send_signal(signal.SIGTERM)
    _, err = daemon.process.communicate(timeout=60)
    return err


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, token_file: Path, tokens: dict[str, str]) -> Iterator[Daemon]:
    started = _start(tmp_path_factory.mktemp("workers"), token_file, tokens)
    yield started
    err = _stop(started)
    assert started.process.returncode == -signal.SIGTERM, err
    assert "leaked" not in err  # shared memory and semaphores released, not left to the resource tracker


def test_two_workers_share_each_callers_execution_rate(daemon: Daemon) -> None:
    responses = [daemon.post("alice", "1") for _ in range(BURST + 10)]
    statuses = [response.status_code for response in responses]

    assert statuses.count(200) == BURST and statuses.count(429) == 10
    assert all(r.json()["reason"] == "rate_limited" for r in responses if r.status_code == 429)
    assert len({_prefix(r) for r in responses if r.status_code == 200}) == 2  # both workers answered


def test_two_workers_share_each_callers_tool_call_rate(daemon: Daemon) -> None:
    code = "n = 0\nfor i in range(3):\n    try:\n        n += echo(1)\n    except ToolError:\n        pass\nn"
    responses = [daemon.post("carol", code, tools=["echo"]) for _ in range(12)]

    assert [r.status_code for r in responses] == [200] * 12
    assert sum(r.json()["value"] for r in responses) == TOOL_BURST


def test_the_concurrency_ceiling_is_the_servers(daemon: Daemon) -> None:
    responses: list[httpx.Response] = []

    def slow() -> None:
        responses.append(daemon.post("bob", "import time\ntime.sleep(1.5)\n1"))

    threads = [threading.Thread(target=slow) for _ in range(CEILING + 3)]
    for thread in threads:
        thread.start()
        time.sleep(0.05)
    for thread in threads:
        thread.join()
    statuses = sorted(r.status_code for r in responses)

    assert statuses == [200] * CEILING + [429] * 3
    assert all(r.json()["reason"] == "busy" for r in responses if r.status_code == 429)


def test_metrics_and_audit_lines_cover_every_worker(daemon: Daemon) -> None:
    before = daemon.metric('otc_executions_total{outcome="ok"}')
    # The kernel hands each connection to whichever worker accepts first: on a
    # busy machine one may win many times running, so send until both have served.
    responses = [daemon.post("dave", f"print({i})") for i in range(16)]
    while len({_prefix(r) for r in responses}) < 2 and len(responses) < 400:
        responses.append(daemon.post("dave", f"print({len(responses)})"))
    ids = {r.headers["x-execution-id"] for r in responses}

    assert [r.status_code for r in responses] == [200] * len(responses)
    assert len({_prefix(r) for r in responses}) == 2
    # Any worker may answer /metrics: every answer counts both workers' executions.
    sent = len(responses)
    assert [daemon.metric('otc_executions_total{outcome="ok"}') - before for _ in range(6)] == [sent] * 6
    deadline = time.monotonic() + 10  # lines reach the supervisor's writer through a queue
    while True:
        lines = [json.loads(line) for line in daemon.audit.read_text().splitlines()]
        logged = [line["execution"] for line in lines if line["execution"] in ids]
        if len(logged) >= len(ids) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert sorted(logged) == sorted(ids)  # each once, in the one file


def test_workers_stream_output(daemon: Daemon) -> None:
    with Client(daemon.url, token=daemon.tokens["dave"]) as client:
        runs = [list(client.stream(f"print('line', {i})\n{i}")) for i in range(4)]

    for i, events in enumerate(runs):
        *output, result = events
        assert output == [OutputEvent("stdout", f"line {i}\n")]
        assert isinstance(result, ExecutionResult) and result.value == i


def test_a_killed_worker_is_replaced_and_its_slots_freed(daemon: Daemon) -> None:
    thread, running = _in_background(daemon, "carol", "import time\ntime.sleep(5)\n1")
    old = daemon.workers()
    for pid in old:  # both: one of them runs the execution
        os.kill(pid, signal.SIGKILL)
    thread.join()
    deadline = time.monotonic() + 60
    while len(set(daemon.workers()) - set(old)) < 2:
        assert time.monotonic() < deadline, "the workers were not replaced"
        time.sleep(0.1)
    while True:  # until both replacements serve
        try:
            health = httpx.get(f"{daemon.url}/healthz").json()
            if health["workers"] == 2:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the new workers did not start serving"
        time.sleep(0.1)

    assert isinstance(running[0], httpx.TransportError)  # its worker died under it
    assert health["in_flight"] == 0  # the dead worker's slot is free again: the ceiling is whole
    assert daemon.metric("otc_worker_restarts_total") == 2
    assert daemon.metric("otc_workers") == 2
    responses = [daemon.post("carol", "1 + 1") for _ in range(4)]
    assert [(r.status_code, r.json()["value"]) for r in responses] == [(200, 2)] * 4


def test_sigterm_lets_running_executions_finish(tmp_path: Path, token_file: Path, tokens: dict[str, str]) -> None:
    daemon = _start(tmp_path, token_file, tokens)
    workers = daemon.workers()
    thread, running = _in_background(daemon, "alice", "import time\ntime.sleep(1.5)\n7")
    err = _stop(daemon)
    thread.join()

    (answer,) = running
    assert isinstance(answer, httpx.Response)
    assert (answer.status_code, answer.json()["value"]) == (200, 7)
    assert daemon.process.returncode == -signal.SIGTERM, err
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]  # no worker left behind
    # Said once, by the supervisor, after both workers had started.
    (announced,) = re.findall(rf"otc serve: serving on {daemon.url} from 2 worker processes \(pids (\d+), (\d+);", err)
    assert sorted(map(int, announced)) == sorted(workers)
    assert "leaked" not in err and "Traceback" not in err


def test_a_second_signal_stops_waiting_for_executions(tmp_path: Path, token_file: Path, tokens: dict[str, str]) -> None:
    daemon = _start(tmp_path, token_file, tokens)
    workers = daemon.workers()
    thread, running = _in_background(daemon, "alice", "import time\ntime.sleep(8)\n7")
    started = time.monotonic()
    daemon.process.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    daemon.process.send_signal(signal.SIGTERM)  # the operator insists
    err = _stop(daemon)
    thread.join()

    assert time.monotonic() - started < 6  # the 8 s execution was not waited for
    assert isinstance(running[0], httpx.TransportError)
    assert "a second signal came" in err
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]


def test_a_worker_that_cannot_start_fails_the_start(tmp_path: Path, token_file: Path) -> None:
    # Loads in the supervisor (which checks the configuration), fails in a worker process.
    (tmp_path / "worker_only_failure.py").write_text(
        "import multiprocessing\n"
        "from host_functions import ToolSet\n"
        "def tools():\n"
        "    if multiprocessing.parent_process() is not None:\n"
        "        raise RuntimeError('no tools in a worker')\n"
        "    return ToolSet([])\n"
    )
    command = [sys.executable, "-m", "runtime._cli", "serve", "--token-file", str(token_file), "--workers", "2"]
    command += ["--port", str(free_port()), "--tools", "worker_only_failure:tools", "--pool-size", "0"]
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    assert done.returncode == 1, done.stderr
    assert "no tools in a worker" in done.stderr
    assert "exited (" in done.stderr and "before it started serving" in done.stderr


class _LambdaVerifier(StaticTokenVerifier):
    def __init__(self) -> None:
        super().__init__({"t" * 20: "alice"})
        self.hook = lambda: None  # not picklable: cannot be sent to a worker process


def test_an_unpicklable_verifier_is_a_config_error() -> None:
    config = ServerConfig(port=free_port(), workers=2, pool_size=0)
    with pytest.raises(ConfigError, match="must be picklable"):
        serve(config, verifier=_LambdaVerifier())


def test_an_audit_log_that_cannot_be_opened_is_a_config_error(tmp_path: Path) -> None:
    config = ServerConfig(port=free_port(), workers=2, pool_size=0, audit_log=tmp_path / "no" / "such" / "dir.jsonl")
    with pytest.raises(ConfigError, match="cannot open the audit log"):
        serve(config, verifier=StaticTokenVerifier({"t" * 20: "alice"}))


def test_a_background_server_is_one_process() -> None:
    with pytest.raises(ConfigError, match="workers=2: a BackgroundServer serves from a thread"):
        BackgroundServer(ServerConfig(port=0, workers=2), verifier=StaticTokenVerifier({"t" * 20: "alice"}))
