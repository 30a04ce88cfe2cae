"""``otc serve``: help, configuration errors, a missing extra, and a real daemon process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from server_harness import free_port, wait_healthy

from runtime._cli import main
from runtime.client import Client


def test_serve_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["serve", "--help"])
    out = capsys.readouterr().out
    assert caught.value.code == 0
    assert out.startswith("usage: otc serve")
    flags = ("--config", "--host", "--port", "--token-file", "--tools", "--audit-log", "--max-concurrent", "--workers")
    for flag in flags:
        assert flag in out


def test_top_level_help_lists_serve(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "serve" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["serve"], "no token file and no verifier"),
        (["serve", "--config", "/nonexistent/server.toml"], "cannot read the server config"),
        (["serve", "--token-file", "/nonexistent/tokens"], "cannot read the token file"),
        (["serve", "--port", "99999", "--token-file", "x"], "0-65535"),
        (["serve", "--tools", "not_a_module_xyz:T", "--token-file", "{tokens}"], "cannot import"),
    ],
    ids=["no-tokens", "no-config", "no-token-file", "bad-port", "bad-tools"],
)
def test_configuration_problems_exit_2(
    argv: list[str], complaint: str, token_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [arg.replace("{tokens}", str(token_file)) for arg in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("otc serve: ") and complaint in err


def test_missing_serve_extra_exits_2() -> None:
    script = (
        "import sys\n"
        "sys.modules['fastapi'] = None  # as if the 'serve' extra were not installed\n"
        "from runtime._cli import main\n"
        "raise SystemExit(main(['serve', '--help']))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "pip install 'otc-runtime[serve]'" in done.stderr


def test_otc_serve_process(tmp_path: Path, token_file: Path, tokens: dict[str, str]) -> None:
    port = free_port()
    config = tmp_path / "server.toml"
    config.write_text(
        f'port = {port}\ntoken_file = "{token_file}"\naudit_log = "audit.jsonl"\npool_size = 1\n'
        f'tools = ["server_tools:TOOLS"]\n[ceilings]\ntimeout = 2.0\n'
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    command = [sys.executable, "-m", "runtime._cli", "serve", "--config", str(config), "--no-access-log"]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(process, url)
        with Client(url, token=tokens["alice"]) as client:
            result = client.run("print(whoami())\n1 + 1", tools=["whoami"])
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)

    assert (result.stdout, result.value) == ("alice\n", 2)
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status says why it stopped.
    assert process.returncode == -signal.SIGTERM
    assert "Application startup complete" in err and "Application shutdown complete" in err
    cores = len(os.sched_getaffinity(0))
    hint = f"one process: --workers {cores} uses all {cores} cores; " if cores > 1 else ""
    assert f"otc serve: serving on {url} ({hint}press Ctrl-C to stop)" in err
    assert '"identity": "alice"' in (tmp_path / "audit.jsonl").read_text()
    assert tokens["alice"] not in err


def test_otc_serve_stops_quietly_on_ctrl_c(tmp_path: Path, token_file: Path) -> None:
    port = free_port()
    config = tmp_path / "server.toml"
    config.write_text(f'port = {port}\ntoken_file = "{token_file}"\npool_size = 0\n')
    command = [sys.executable, "-m", "runtime._cli", "serve", "--config", str(config), "--no-access-log"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        wait_healthy(process, f"http://127.0.0.1:{port}")
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)

    assert process.returncode == 130
    assert "Application shutdown complete" in err
    assert "otc serve: interrupted" in err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err


def test_otc_serve_on_a_taken_port_fails_at_once(token_file: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = [sys.executable, "-m", "runtime._cli", "serve", "--port", str(port), "--token-file", str(token_file)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)

    assert done.returncode == 2
    assert f"otc serve: cannot listen on 127.0.0.1:{port}: Address already in use (choose another port)" in done.stderr
    assert "Application startup" not in done.stderr  # refused before the sandbox was built
