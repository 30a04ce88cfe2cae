"""Component entry point: the `run` export of the `sandbox` world.

Kept tiny on purpose: an exception escaping an export becomes a Rust panic
that poisons the instance, so the only thing here is a catch-all that
returns a constant (no allocation needed to build it).
"""

import guest_preload  # noqa: F401  (stdlib imported at build time is in the snapshot)
import wit_world
from guest_runner import run as _run

_FATAL = '{"fatal": "the guest runner failed"}'


class WitWorld(wit_world.WitWorld):
    def run(self, code: str, options: str) -> str:
        try:
            return _run(code, options)
        except BaseException:
            return _FATAL
