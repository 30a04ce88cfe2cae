"""The README's Python examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_python_blocks_run(capsys: object) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 2
    namespace: dict[str, object] = {}
    for block in blocks:  # later blocks use names from earlier ones, like a reader would
        exec(compile(block, str(README), "exec"), namespace)
    sandbox = namespace["sb"]
    sandbox.close()  # type: ignore[attr-defined]


def test_readme_commands_match_ci() -> None:
    text = README.read_text()
    ci = (README.parent / ".ci" / "run").read_text()
    test_command = re.search(r"# the tests.*\n(.+)\n", text)
    assert test_command is not None
    assert test_command.group(1).strip() in ci
