"""The client and ``runtime`` import without the serve extra (``__all__`` hygiene: tests/test_exports.py)."""

from __future__ import annotations

import subprocess
import sys


def test_runtime_and_the_client_import_without_the_serve_extra() -> None:
    script = (
        "import sys\n"
        "for name in ('fastapi', 'starlette', 'uvicorn'):\n"
        "    sys.modules[name] = None  # importing any of them would fail\n"
        "import runtime, runtime.client\n"
        "print(runtime.client.Client.__name__)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "Client\n"), done.stderr
