"""Plan a regex tool search: refuse patterns that could hang the host; find what lets most tools be skipped.

The pattern is untrusted (a model writes it) and matched on the host by
Python's ``re``, which has no timeout: ``(a+)+$``, ``(a|a)*$``, ``\\w+\\w+$``
or ``.*.*.*x`` would backtrack for minutes on a 4,000-character tool body.
``plan_regex`` parses the pattern (``re._parser``) and raises ``ValueError``,
saying what to write instead, for:

* a backreference or conditional group (``(a)\\1``, ``(?P=n)``, ``(?(1)a|b)``);
* a count over ``MAX_REPEAT_COUNT`` (``a{1000}``); more than ``MAX_REPEATS`` repeats;
* inside a repeat of max > 1 (``*``, ``+``, ``{2,5}``), any repeat (``?``
  too) or alternation: ``(a+)+``, ``(a?a?)+``, ``(a|b)+``, ``(.*a){20}``;
* over ``MAX_WAYS`` ways to try at one position (``_ways``): a repeat that can
  give characters back to what follows counts its lengths (``OPEN_WAYS`` if
  open-ended), a group its alternatives (one if they start with different
  letters), and a repeat scans its longest run on every way reaching it. So
  one ``.*`` passes (``refund.*order``), ``\\w+\\w+$`` does not. A repeat gives
  nothing back when possessive, of fixed count, last in the pattern, or
  followed by a literal it cannot match (``service\\s+to``).

What passes backtracks at most quadratically in a body, as ``.*x`` must. With
no ``re._parser`` (a future Python) ``_check_text`` applies stricter rules to
the text: the guard never silently disappears. The plan also says how to
search fast (``re`` is slow with IGNORECASE and alternations): clauses of
strings, one of which a word of every matching tool contains (``_required``);
whether lowercased ASCII text can be matched case-sensitively, counting the
same (``_case_safe``); and the literals of a pattern that is just a few
(``send|email``), for ``str.find``.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["MAX_PATTERN_CHARS", "WORD", "RegexPlan", "plan_regex"]

MAX_PATTERN_CHARS = 500
MAX_REPEATS = 10
"""The most repeats (``*``, ``+``, ``?``, ``{m,n}``, lazy or possessive) in a pattern."""
MAX_REPEAT_COUNT = 100
"""The largest number in ``{m}``, ``{m,n}`` and ``{m,}``."""
OPEN_WAYS = 4000
"""The lengths an open-ended repeat can take: as many as a tool's body has characters (``_search.MAX_BODY_CHARS``)."""
MAX_WAYS = 2 * OPEN_WAYS
"""The most ways to try at one position: one open-ended repeat, times a ``?`` or a two-way alternation."""
MAX_LITERALS = 64

WORD = re.compile(r"[^\W_]+")
"""The prefilter's words: alphanumeric runs (casefolded)."""

_HINT = "search for the words themselves, e.g. 'send|email' or 'refund.*order'"
_REFUSALS = {
    "backreference": "backreferences and conditional groups such as (a)\\1, (?P=name) or (?(1)a|b) are not allowed "
    f"in tool search (they can make matching take exponential time): {_HINT}",
    "nested": "nested quantifiers such as (a+)+, (a?b?)* or (a|b)+ are not allowed in tool search (they can make "
    f"matching take exponential time): repeat only plain text or a character class, or {_HINT}",
    "ambiguous": "pattern too ambiguous: open-ended repeats in a row such as '.*.*x' or '\\w+\\w+$', or many "
    "groups of alternatives in a row, can each give characters to the next, so matching can take minutes: keep one "
    "'.*' between literal words, e.g. 'refund.*order', or search for the words themselves, e.g. 'refund|order'",
    "verbose": f"verbose mode (?x) is not allowed in tool search: {_HINT}",
    "count": f"repeat count too large ({{}}, the limit is {MAX_REPEAT_COUNT}): use '*' or '+' (e.g. 'a.*b')",
    "repeats": f"too many repeats in one pattern ({{}}, the limit is {MAX_REPEATS}): {_HINT}",
}
_END = -1  # what follows the pattern's last item: nothing, so a repeat there never gives characters back
_FOLDS = {"i": "\u0130\u0131", "k": "\u212a", "s": "\u017f"}  # non-ASCII letters IGNORECASE matches to ASCII ones

# The regex parser is private (no typeshed stubs): without it, _check_text guards and every tool is scanned.
try:
    _parser: Any = importlib.import_module("re._parser")
    _ops: Any = importlib.import_module("re._constants")
    _REPEATS = frozenset(
        getattr(_ops, op) for op in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT") if hasattr(_ops, op)
    )
    _ATOMIC = getattr(_ops, "ATOMIC_GROUP", object())
    _POSSESSIVE = getattr(_ops, "POSSESSIVE_REPEAT", object())
    _CATEGORIES: dict[Any, str] = {
        getattr(_ops, f"CATEGORY_{name}"): f"\\{code}"
        for name, code in zip(["DIGIT", "NOT_DIGIT", "SPACE", "NOT_SPACE", "WORD", "NOT_WORD"], "dDsSwW", strict=True)
    }
except (ImportError, AttributeError):  # pragma: no cover - a future Python
    _parser = _ops = _ATOMIC = _POSSESSIVE = None
    _REPEATS = frozenset()
    _CATEGORIES = {}


@dataclass(frozen=True, kw_only=True, slots=True)
class RegexPlan:
    """How to run one regex query over the tools (``plan_regex``)."""

    count: Callable[[str], int]
    """Counts the non-empty matches of the query (compiled with IGNORECASE) in a text."""
    fast_count: Callable[[str], int] | None
    """Counts the same in lowercased ASCII text, case-sensitively (3-6x faster); None when that could differ."""
    literals: tuple[str, ...] | None
    """The pattern is just these lowercase ASCII strings, in the order it tries them; or None."""
    clauses: tuple[frozenset[str], ...]
    """Most selective first: every match holds, for each clause, a word containing one of its strings."""


def plan_regex(query: str) -> RegexPlan:
    """Check ``query`` and plan its search. Raises ``ValueError`` when it is longer than ``MAX_PATTERN_CHARS``,
    does not compile, or could backtrack catastrophically (see the module docstring)."""
    pattern = _compile(query)
    if _parser is None:  # the textual guard; every tool is scanned with the plain pattern
        _check_text(query)
        return RegexPlan(count=_counter(pattern, None), fast_count=None, literals=None, clauses=())
    parsed = _parser.parse(query, re.IGNORECASE)
    repeats = _check_nodes(parsed, repeated=False)
    if repeats > MAX_REPEATS:
        raise ValueError(_REFUSALS["repeats"].format(repeats))
    _ways(parsed, _END, 1)
    safe = _case_safe(parsed)
    literals = _literals(parsed) if safe else None
    fast = _counter(re.compile(query), parsed) if safe and literals is None else None
    clauses = () if literals is not None else tuple(sorted(_required(parsed), key=_strength, reverse=True))
    return RegexPlan(count=_counter(pattern, parsed), fast_count=fast, literals=literals, clauses=clauses)


def _compile(query: str) -> re.Pattern[str]:
    """``query`` as a case-insensitive regex; raises ``ValueError`` when it is too long or does not compile."""
    if len(query) > MAX_PATTERN_CHARS:
        raise ValueError(
            f"regex pattern too long ({len(query)} characters, the limit is {MAX_PATTERN_CHARS}): "
            "search with a few distinctive words, e.g. 'send.*email|notify'"
        )
    try:
        return re.compile(query, re.IGNORECASE)
    except re.error as exc:
        raise ValueError(
            f"invalid regex {query!r}: {exc}; write a Python regex (escape a literal '(', '[', '*', '+' "
            "or '?' with a backslash)"
        ) from None


def _check_nodes(items: Any, *, repeated: bool) -> int:
    """The repeats in ``items`` (parsed), inside a repeat of max > 1 if ``repeated``. Raises ``ValueError`` for
    a backreference or conditional group, a count over ``MAX_REPEAT_COUNT``, and if ``repeated`` any repeat or
    alternation."""
    repeats = 0
    for op, av in items:
        if op is _ops.GROUPREF or op is _ops.GROUPREF_EXISTS:
            raise ValueError(_REFUSALS["backreference"])
        if repeated and (op in _REPEATS or op is _ops.BRANCH):
            raise ValueError(_REFUSALS["nested"])
        if op in _REPEATS:
            low, high, body = av
            count = max(low, 0 if high == _ops.MAXREPEAT else high)
            if count > MAX_REPEAT_COUNT:
                raise ValueError(_REFUSALS["count"].format(count))
            repeats += 1 + _check_nodes(body, repeated=high > 1)
        else:
            repeats += sum(_check_nodes(child, repeated=repeated) for child in _children(op, av))
    return repeats


def _children(op: Any, av: Any) -> list[Any]:
    """The parsed subpatterns inside a node that is not a repeat."""
    if op is _ops.SUBPATTERN:
        return [av[-1]]
    if op is _ops.BRANCH:
        return list(av[1])
    if op is _ops.ASSERT or op is _ops.ASSERT_NOT:
        return [av[1]]
    return [av] if op is _ATOMIC else []


def _ways(items: Any, follow: int | None, ways: int) -> int:
    """The ways to have matched ``items`` (parsed), reached in ``ways`` ways and followed by ``follow`` (a
    literal's code, ``_END`` or None: unknown). Raises ``ValueError`` past ``MAX_WAYS``, counting as ways the
    characters a repeat scans on each way reaching it. Repeats of max > 1 hold no repeat or alternation
    (``_check_nodes`` ran first): they are not entered."""
    items = list(items)
    for i, (op, av) in enumerate(items):
        after = _first_literal(items[i + 1]) if i + 1 < len(items) else follow
        if op in _REPEATS:
            low, high, body = av
            open_ended = high == _ops.MAXREPEAT
            # A greedy scan goes to the longest run; at the end of the pattern it stops once it has low.
            _within(ways * (low if after == _END else OPEN_WAYS if open_ended else high))
            gives_back = op is not _POSSESSIVE and low != high and _gives_back(body, after)
            lengths = (OPEN_WAYS if open_ended else high - low + 1) if gives_back else 1
            ways = (_ways(body, after, ways) if high <= 1 else ways) * lengths
        elif op is _ops.BRANCH:  # alternatives starting with different letters cannot both match
            firsts = [_first_literal(branch[0]) if len(branch) else None for branch in av[1]]
            keys = [chr(c).lower() for c in firsts if c is not None and chr(c).isascii()]
            combine = max if len(set(keys)) == len(firsts) else sum
            ways = combine(_ways(branch, after, ways) for branch in av[1])
        elif op is _ops.SUBPATTERN:
            ways = _ways(av[-1], after, ways)
        elif op is _ATOMIC or op is _ops.ASSERT or op is _ops.ASSERT_NOT:
            _ways(_children(op, av)[0], None, ways)  # tried on every way; one way out (or none)
        _within(ways)
    return ways


def _within(ways: int) -> None:
    if ways > MAX_WAYS:
        raise ValueError(_REFUSALS["ambiguous"])


def _first_literal(node: Any) -> int | None:
    """The code of the literal character ``node`` must start with, or None."""
    op, av = node
    if op is _ops.LITERAL:
        return int(av)
    if op is _ops.SUBPATTERN or op is _ATOMIC:
        items = av[-1] if op is _ops.SUBPATTERN else av
        return _first_literal(items[0]) if len(items) else None
    if op in _REPEATS and av[0] >= 1 and len(av[2]):
        return _first_literal(av[2][0])
    return None


def _gives_back(body: Any, follow: int | None) -> bool:
    """Whether a repeat of ``body`` can stop in several places before ``follow`` (True when unsure): not when
    nothing follows, nor when ``follow`` is a literal ``body``'s first character cannot be, in any case."""
    if follow == _END:
        return False
    if follow is None or not chr(follow).isascii() or not len(body):
        return True  # unknown, or a non-ASCII letter: its case variants are too many to check
    first = body[0]
    while first[0] is _ops.SUBPATTERN and len(first[1][-1]):
        first = first[1][-1][0]
    source = _char_source(first)
    char = chr(follow)
    variants = {char.lower(), char.upper(), *_FOLDS.get(char.lower(), "")}
    return source is None or any(re.search(source, c, flags) for c in variants for flags in (re.I, re.I | re.A))


def _char_source(node: Any) -> str | None:
    """A regex for the one character a parsed node matches; None unless it is a literal, a class or ``.``."""
    op, av = node
    if op is _ops.LITERAL:
        return f"\\U{av:08x}"
    if op is _ops.NOT_LITERAL:
        return f"[^\\U{av:08x}]"
    if op is _ops.ANY:
        return "(?s:.)"
    if op is not _ops.IN or not av:
        return None
    negate = av[0][0] is _ops.NEGATE
    parts = []
    for member_op, member in av[negate:]:
        if member_op is _ops.LITERAL:
            parts.append(f"\\U{member:08x}")
        elif member_op is _ops.RANGE:
            parts.append(f"\\U{member[0]:08x}-\\U{member[1]:08x}")
        elif member_op is _ops.CATEGORY and member in _CATEGORIES:
            parts.append(_CATEGORIES[member])
        else:
            return None
    return "[" + "^" * negate + "".join(parts) + "]" if parts else None


_SKELETON = re.compile(r"\\.|\[\^?\]?(?:\\.|[^\]\\])*\]", re.DOTALL)
_QUANTIFIER = re.compile(r"(?<!\()(?:[*+?]|\{\d*,?\d*\})[+?]?")  # with its lazy or possessive mark


def _check_text(query: str) -> None:
    """The guard without ``re._parser``, on the pattern's text; stricter: one repeat besides ``?`` at most.

    Raises ``ValueError`` like ``plan_regex`` for a backreference or
    conditional group, a repeated group, verbose mode (its spaces could hide
    a quantifier), a large count, more than one ``*``/``+``/``{m,n}``, too many
    ``?``, or more than ``MAX_WAYS`` combinations of alternatives.
    """
    if re.search(r"(?<!\\)(?:\\\\)*\\[1-9]", query):
        raise ValueError(_REFUSALS["backreference"])
    skeleton = _SKELETON.sub("x", query)  # escapes and classes are one character each
    if "(?P=" in skeleton or "(?(" in skeleton:
        raise ValueError(_REFUSALS["backreference"])
    if re.search(r"\)(?:[*+]|\{)", skeleton):
        raise ValueError(_REFUSALS["nested"])
    if re.search(r"\(\?[a-zA-Z-]*x", skeleton):
        raise ValueError(_REFUSALS["verbose"])
    repeats = _QUANTIFIER.findall(skeleton)
    count = max(map(int, re.findall(r"\d+", "".join(repeats))), default=0)
    if count > MAX_REPEAT_COUNT:
        raise ValueError(_REFUSALS["count"].format(count))
    if len(repeats) > MAX_REPEATS:
        raise ValueError(_REFUSALS["repeats"].format(len(repeats)))
    if sum(not repeat.startswith("?") for repeat in repeats) > 1:
        raise ValueError(_REFUSALS["ambiguous"])
    ways, groups = 1, list[int]()
    for char in skeleton:  # each group multiplies the ways by its alternatives
        if char == "(":
            groups.append(1)
        elif char == "|" and groups:
            groups[-1] += 1
        elif char == ")" and groups:
            ways *= groups.pop()
            _within(ways)


def _required(items: Any) -> list[frozenset[str]]:
    """What every match of the parsed pattern holds: for each clause, a word containing one of its strings.

    The strings are casefolded alphanumeric runs of the pattern's literals.
    Literal runs and required groups add clauses; an alternation adds one (a
    string from each branch) when every branch has one. Anything else
    (classes, optional parts, lookarounds) only breaks a literal run.
    """
    clauses: list[frozenset[str]] = []
    run: list[str] = []
    for op, av in [*items, (None, None)]:
        if op is _ops.LITERAL:
            run.append(chr(av))
            continue
        clauses += [frozenset([word]) for word in WORD.findall("".join(run).casefold())]
        run.clear()
        if op is _ops.SUBPATTERN:
            clauses += _required(av[-1])
        elif op is _ATOMIC:
            clauses += _required(av)
        elif op in _REPEATS and av[0] >= 1:
            clauses += _required(av[2])
        elif op is _ops.BRANCH:
            branches = [_required(branch) for branch in av[1]]
            if all(branches):
                clauses.append(frozenset().union(*(max(branch, key=_strength) for branch in branches)))
    return clauses


def _strength(clause: frozenset[str]) -> int:
    """How selective a clause is likely to be: the length of its shortest string."""
    return min(map(len, clause))


def _case_safe(items: Any) -> bool:
    """Whether matching case-sensitively in lowercased ASCII text counts what IGNORECASE counts in the text.

    True when the pattern's characters (and class ranges) are ASCII without
    uppercase letters and no group turns IGNORECASE off. CPython's regex
    engine skips ahead on literals only without IGNORECASE: 3-6x faster.
    """
    for op, av in items:
        if op is _ops.LITERAL or op is _ops.NOT_LITERAL:
            safe = _lower_ascii(av)
        elif op is _ops.IN:
            safe = all(_class_member_safe(member_op, member) for member_op, member in av)
        elif op is _ops.SUBPATTERN:
            safe = not av[2] & re.IGNORECASE and _case_safe(av[3])
        elif op in _REPEATS:
            safe = _case_safe(av[2])
        elif op is _ops.BRANCH:
            safe = all(_case_safe(branch) for branch in av[1])
        elif op is _ops.ASSERT or op is _ops.ASSERT_NOT:
            safe = _case_safe(av[1])
        elif op is _ATOMIC:
            safe = _case_safe(av)
        else:
            safe = op is _ops.AT or op is _ops.ANY
        if not safe:
            return False
    return True


def _lower_ascii(code: int) -> bool:
    return code < 128 and not 65 <= code <= 90


def _class_member_safe(op: Any, av: Any) -> bool:
    if op is _ops.LITERAL:
        return _lower_ascii(av)
    if op is _ops.RANGE:
        return bool(av[1] < 65 or 90 < av[0] <= av[1] < 128)
    return op is _ops.CATEGORY or op is _ops.NEGATE


def _literals(items: Any) -> tuple[str, ...] | None:
    """The strings the parsed pattern matches, in the order its alternatives are tried; None unless a few literals."""
    found = [""]
    for op, av in items:
        if op is _ops.LITERAL:
            options: Sequence[str] | None = [chr(av)]
        elif op is _ops.IN:
            options = [chr(code) for member, code in av] if all(member is _ops.LITERAL for member, _ in av) else None
        elif op is _ops.SUBPATTERN:
            options = _literals(av[-1])
        elif op is _ops.BRANCH:
            branches = [_literals(branch) for branch in av[1]]
            options = None if None in branches else [s for branch in branches for s in branch or ()]
        else:
            options = None
        if options is None or len(found) * len(options) > MAX_LITERALS:
            return None
        found = [head + tail for head in found for tail in options]
    return None if "" in found else tuple(found)


def _counter(regex: re.Pattern[str], parsed: Any) -> Callable[[str], int]:
    """Counts ``regex``'s non-empty matches in a text."""
    if parsed is None or parsed.getwidth()[0] == 0:
        return lambda text: sum(1 for match in regex.finditer(text) if match.end() > match.start())
    return lambda text: len(regex.findall(text))
