"""The ``otc`` command: output, value, error and exit status."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from runtime._cli import main


def test_run_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "job.py"
    script.write_text("print('hello')\n{'n': 3}\n")
    assert main(["run", str(script)]) == 0
    out = capsys.readouterr().out
    assert out == 'hello\n=> {"n": 3}\n'


def test_run_stdin_failure_exits_1(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("print('partial')\nx = 1\nx / 0\n"))
    assert main(["run", "-"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "partial\n"
    assert "error: GuestException: division by zero (line 3)" in captured.err
    assert 'File "<script>", line 3' in captured.err


def test_timeout_flag_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "spin.py"
    script.write_text("print('go')\nwhile True: pass\n")
    assert main(["run", "--timeout", "0.3", "--json", str(script)]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] is False
    assert result["stdout"] == "go\n"
    assert (result["error"]["error"], result["error"]["limit"], result["error"]["value"]) == (
        "TimeoutExceeded",
        "timeout",
        0.3,
    )


@pytest.mark.parametrize(
    "argv",
    [["run", "missing.py"], ["run", "--timeout", "0", "x.py"], ["run", "--memory-mb", "-1", "x.py"]],
    ids=["missing-file", "zero-timeout", "negative-memory"],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith("otc: ")


def test_demo(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    captured = capsys.readouterr()
    assert "200 active candidates\n" in captured.out
    assert "first one now: Candidate 1 ['reviewed']" in captured.out
    assert "handled: no candidate with id 999999" in captured.out
    assert "denied: FileNotFoundError" in captured.out
    assert '=> {"tagged": 200, "first": ["reviewed"]}\n---' in captured.out
    assert "203 tool calls (1 failed)" in captured.err
    assert "200 candidates tagged 'reviewed'" in captured.err
    # Then the same job as three scripted agents: turns and bytes per strategy.
    rows = {line.split()[0]: line.split()[1:3] for line in captured.out.splitlines() if line.endswith("tagged)")}
    assert rows == {"one_per_turn": ["202", "201"], "batch": ["3", "2"], "code": ["2", "1"]}
    assert captured.out.count("(200 tagged)") == 3


def test_example_crm_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "count.py"
    script.write_text("len(list_candidates(status='hired'))")
    assert main(["run", str(script)]) == 1  # no tools unless granted
    assert "NameError" in capsys.readouterr().err
    assert main(["run", "--example-crm", str(script)]) == 0
    assert capsys.readouterr().out == "=> 25\n"


def test_build_prints_the_cached_component(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith(".wasm") and Path(lines[0]).is_file()
    assert lines[1].startswith("cache: ")
