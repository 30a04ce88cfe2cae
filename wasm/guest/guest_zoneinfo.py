"""`zoneinfo` that works offline: the IANA database is read at build time.

The guest has no filesystem at run time, so the zone files of the `tzdata`
package (put on the build path by the host's builder) are read into memory
here, during pre-initialisation, and `zoneinfo` is pointed at them.
"""

import io
import zoneinfo
import zoneinfo._common as _common

_ZONES: dict[str, bytes] = {}


def _collect() -> None:
    try:
        from importlib import resources

        root = resources.files("tzdata") / "zoneinfo"
    except ImportError:
        return  # built without tzdata: zoneinfo raises ZoneInfoNotFoundError

    def walk(node, prefix: str) -> None:
        for child in node.iterdir():
            if child.is_dir():
                if not child.name.startswith("__"):
                    walk(child, prefix + child.name + "/")
                continue
            data = child.read_bytes()
            if data[:4] == b"TZif":
                _ZONES[prefix + child.name] = data

    walk(root, "")


def _load_tzdata(key: str) -> io.BytesIO:
    try:
        return io.BytesIO(_ZONES[key])
    except KeyError:
        raise zoneinfo.ZoneInfoNotFoundError(f"No time zone found with key {key}") from None


def _available_timezones() -> set[str]:
    return set(_ZONES)


_collect()
_common.load_tzdata = _load_tzdata
zoneinfo.available_timezones = _available_timezones
for _name in list(__import__("sys").modules):
    if _name == "tzdata" or _name.startswith("tzdata."):
        del __import__("sys").modules[_name]
