"""The daemon's own error: a configuration it cannot serve.

Where it sits in the runtime's hierarchy (``runtime._errors``)::

    OtcError
    └── UsageError
        └── ConfigError         a server configuration that cannot be served (also a ValueError)

Everything a request can get wrong is answered over HTTP (401, 413, 422,
429), never raised; see ``runtime.server._responses``.
"""

from __future__ import annotations

from runtime._errors import UsageError

__all__ = ["ConfigError"]


class ConfigError(UsageError, ValueError):
    """Raised when the server is configured, before it listens: an invalid
    ``ServerConfig`` field, a TOML file with unknown keys or wrong types, a
    token file that cannot be read, a tool source that cannot be imported,
    two tools with one name, or (``serve``) an address that cannot be bound."""
