"""Component entry point: the `run` export of the `sandbox` world.

Kept tiny on purpose: an exception escaping an export becomes a Rust panic
that poisons the instance, so the only thing here is a catch-all that
describes the failure, or returns a constant if even that fails.
"""

from json.encoder import encode_basestring_ascii as _quote

import guest_preload  # noqa: F401  (stdlib imported at build time is in the snapshot)
import guest_warmup  # noqa: F401  (then the interpreter is warmed, before the snapshot)
import wit_world
from guest_runner import run as _run

_FATAL = '{"fatal": "the guest runner failed"}'


class WitWorld(wit_world.WitWorld):
    def run(self, code: str, options: str) -> str:
        try:
            return _run(code, options)
        except BaseException as exc:
            try:
                return '{"fatal": ' + _quote(f"{type(exc).__name__}: {exc}"[:500]) + "}"
            except BaseException:
                return _FATAL


import guest_immortal  # noqa: E402, F401  (last: lists the snapshot's objects for the build)
