"""JSON for the guest's own traffic with the host, taken once at build time.

A script may replace anything in the ``json`` package (``json.dumps``,
``JSONEncoder``, ``json.encoder.c_make_encoder``, ...), on purpose or to
customise its own output. The runner's replies and the tool calls must not
change with it, or a harmless script would end in a malformed reply. The C
encoders and scanner made here hold their settings themselves, so nothing a
script does to the ``json`` modules later reaches them.
"""

import json.decoder
from _json import encode_basestring, encode_basestring_ascii, make_encoder

scan = json.decoder.JSONDecoder().scan_once
"""``scan(text, index)``: (the JSON value at ``index``, the index after it); StopIteration if none."""
_space = json.decoder.WHITESPACE.match
# markers=None: no cycle check; callers hand over checked values or their own lists.
_encode = make_encoder(None, None, encode_basestring, None, ": ", ", ", False, False, True)
_encode_ascii = make_encoder(None, None, encode_basestring_ascii, None, ": ", ", ", False, False, True)


def dumps(value) -> str:
    """JSON text of ``value`` (plain JSON types, no cycles), non-ASCII kept as is:
    only for text known to be valid (a lone surrogate cannot cross to the host)."""
    return "".join(_encode(value, 0))


def dumps_ascii(value) -> str:
    """``dumps`` with non-ASCII escaped, so any text crosses, lone surrogates too."""
    return "".join(_encode_ascii(value, 0))


def dumps_checked(value, default) -> str:
    """JSON text of any value: ``default`` converts what JSON has no type for,
    cycles and NaN raise ValueError, non-ASCII is escaped."""
    # A new encoder per call: its markers dict (the cycle check) must start empty.
    encode = make_encoder({}, default, encode_basestring_ascii, None, ": ", ", ", False, False, False)
    return "".join(encode(value, 0))


def loads(text: str):
    """The value of JSON ``text``; ValueError when it is not exactly one JSON value."""
    # The regex runs only where there is whitespace to skip: the host sends
    # none, and two matches cost more than a small reply's scan (~0.6 µs).
    start = _space(text, 0).end() if text[:1] in " \t\n\r" else 0
    try:
        value, end = scan(text, start)
    except StopIteration:
        raise ValueError("not a JSON value") from None
    if end != len(text) and _space(text, end).end() != len(text):
        raise ValueError("extra data after the JSON value")
    return value
