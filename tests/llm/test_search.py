"""ToolIndex: BM25 and regex search over tool names, descriptions and parameters, on small hand-built catalogues."""

from __future__ import annotations

import re
import signal
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from runtime.llm import _regex_plan, _search
from runtime.llm._regex_plan import MAX_REPEAT_COUNT, MAX_REPEATS, OPEN_WAYS, plan_regex
from runtime.llm._search import MAX_BODY_CHARS, MAX_PATTERN_CHARS, NAME_WEIGHT, SearchHit, ToolIndex, _body
from runtime.llm._spec import ToolSpec

T = TypeVar("T")


def spec(name: str, description: str, **properties: dict[str, Any]) -> ToolSpec:
    return ToolSpec(name=name, description=description, parameters={"type": "object", "properties": properties})


CRM = [
    spec(
        "crm.list_candidates",
        "List the candidates in the CRM, optionally only those with a given status.",
        status={"type": "string", "enum": ["active", "archived"], "description": "Only candidates in this state."},
        page_size={"type": "integer", "description": "How many records per page."},
    ),
    spec(
        "crm.tag_candidate",
        "Attach a label to one candidate.",
        candidate_id={"type": "integer", "description": "The candidate's id."},
        tag={"type": "string", "description": "The label to attach, e.g. 'reviewed'."},
    ),
    spec(
        "crm.get_candidate",
        "Fetch one candidate's full record.",
        candidate_id={"type": "integer", "description": "The candidate's id."},
    ),
    spec(
        "mail.send_email",
        "Send an email message.",
        to={"type": "string", "description": "Recipient address."},
        subject={"type": "string"},
        body={"type": "string", "description": "Plain-text message body."},
    ),
    spec(
        "billing.createInvoice",
        "Bill a customer for an amount.",
        customer={
            "type": "object",
            "description": "Who pays.",
            "properties": {"vat_number": {"type": "string", "description": "Tax registration of the company."}},
        },
        lines={"type": "array", "items": {"$ref": "#/$defs/Line"}},
    ),
    ToolSpec(
        name="net.HTTPServer_v2",
        description="Serve files over the web.",
        parameters={
            "type": "object",
            "properties": {"root": {"type": "string", "description": "Directory to serve."}},
            "$defs": {"Tls": {"description": "Certificate chain for encrypted connections."}},
        },
    ),
]


@pytest.fixture(scope="module")
def index() -> ToolIndex:
    return ToolIndex(CRM)


def names(hits: list[SearchHit]) -> list[str]:
    return [hit.name for hit in hits]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("tag a candidate", "crm.tag_candidate"),
        ("list all candidates", "crm.list_candidates"),
        ("fetch the record of one candidate", "crm.get_candidate"),
        ("send an email to the recruiter", "mail.send_email"),
        ("bill the customer", "billing.createInvoice"),
    ],
    ids=["tag", "list", "get", "email", "bill"],
)
def test_bm25_ranks_the_obvious_tool_first(index: ToolIndex, query: str, expected: str) -> None:
    hits = index.search(query)
    assert names(hits)[0] == expected
    assert all(hit.score > 0 for hit in hits)
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("create invoice", "billing.createInvoice"),  # camelCase
        ("page size", "crm.list_candidates"),  # a snake_case parameter name
        ("billing", "billing.createInvoice"),  # the namespace
        ("http server", "net.HTTPServer_v2"),  # an acronym before a hump
        ("v2", "net.HTTPServer_v2"),  # letters and digits apart
    ],
    ids=["camel", "snake", "namespace", "acronym", "digits"],
)
def test_names_are_split_into_words(index: ToolIndex, query: str, expected: str) -> None:
    assert names(index.search(query, k=1)) == [expected]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("recipient", "mail.send_email"),  # a parameter's description
        ("archived", "crm.list_candidates"),  # an enum value
        ("tax registration", "billing.createInvoice"),  # a nested object's property
        ("vat", "billing.createInvoice"),  # ... and its name
        ("certificate chain", "net.HTTPServer_v2"),  # a $defs description
    ],
    ids=["param-description", "enum", "nested-description", "nested-name", "defs"],
)
def test_parameters_are_searched(index: ToolIndex, query: str, expected: str) -> None:
    assert names(index.search(query)) == [expected]
    assert names(index.search(query, mode="regex")) == [expected]


@pytest.mark.parametrize("word", ["tag", "tags", "tagging", "tagged", "TAGS"], ids=lambda word: word)
def test_stemming_meets_forms_of_a_word(index: ToolIndex, word: str) -> None:
    assert names(index.search(word)) == ["crm.tag_candidate"]


@pytest.mark.parametrize(
    "query", ["creating invoices", "created invoice", "creates an invoice"], ids=["ing", "ed", "plural"]
)
def test_stemming_drops_a_final_e(index: ToolIndex, query: str) -> None:
    assert names(index.search(query, k=1)) == ["billing.createInvoice"]


def test_name_weighs_more_than_body_in_bm25() -> None:
    catalogue = [
        spec("notes.add", "Add a note; the note may mention an invoice."),
        spec("billing.invoice", "Add a note."),
    ]
    assert names(ToolIndex(catalogue).search("invoice")) == ["billing.invoice", "notes.add"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("tag", ["crm.tag_candidate"]),
        ("EMAIL", ["mail.send_email"]),
        (r"^crm\.(list|get)_", ["crm.list_candidates", "crm.get_candidate"]),
        (r"send.*mail|invoice", ["mail.send_email", "billing.createInvoice"]),
        (r"\bid\b", ["crm.tag_candidate", "crm.get_candidate"]),
    ],
    ids=["literal", "case-insensitive", "anchored", "alternation", "word-boundary"],
)
def test_regex_finds_matching_tools(index: ToolIndex, query: str, expected: list[str]) -> None:
    assert names(index.search(query, mode="regex")) == expected


def test_regex_ranks_name_matches_higher() -> None:
    catalogue = [
        spec("notes.add", "Add a note; a note can mention an invoice."),
        spec("billing.invoice", "Bill a customer."),
    ]
    hits = ToolIndex(catalogue).search("invoice", mode="regex")
    assert hits == [SearchHit(name="billing.invoice", score=NAME_WEIGHT), SearchHit(name="notes.add", score=1.0)]


REFERENCE = [
    *CRM,
    spec("hr.École", "Résumé parsing for the ÉCOLE; straße is a street.", ſtatus={"description": "Long s."}),
    spec("text.abc", "abcabc bcab aaa ABC, as you can see", a_b={"description": "Ab bA"}),
    spec("ops.Deploy", "Deploy THE Service to PROD\nnow."),
]
PATTERNS = {
    "literal": "candidate",
    "upper-literal": "Candidate",
    "alternation": "candidate|email|label",
    "overlapping": "ab|bc|abc",
    "repeated-literal": "aa",
    "prefix-factored": "send|sent|sen",
    "class": "[a-c]b",
    "upper-class": "[A-C]B",
    "upper-range": "[A-C]b",
    "case-sensitive-group": "(?-i:ABC)|(?-i:Deploy)",
    "lowercase-case-sensitive-group": "(?-i:abc)",
    "dot-star": "deploy.*prod",
    "across-lines": r"service\s+to\s+prod\s+now",
    "anchors": r"^\w+\.|\.$",
    "lookahead": r"the(?= service)",
    "empty-matches": "x*",
    "optional": "can(didate)?",
    "non-ascii": "école|ÉCOLE",
    "long-s": "status",
    "no-literal": r"\w+ing",
}


@pytest.mark.parametrize("pattern", list(PATTERNS.values()), ids=list(PATTERNS))
def test_regex_scores_equal_a_plain_scan(pattern: str) -> None:
    """The prefilter and the fast paths count exactly what matching every tool's text with IGNORECASE counts."""
    regex = re.compile(pattern, re.IGNORECASE)

    def count(text: str) -> int:
        return sum(1 for match in regex.finditer(text) if match.end() > match.start())

    expected = {tool.name: NAME_WEIGHT * count(tool.name) + count(_body(tool)) for tool in REFERENCE}
    hits = ToolIndex(REFERENCE).search(pattern, mode="regex", k=100)
    assert {hit.name: hit.score for hit in hits} == {name: score for name, score in expected.items() if score}


DEADLINE = 5.0
"""Seconds a search may take in the containment tests: a refusal takes microseconds, a catastrophic match minutes."""

SLOW = ToolIndex(
    [
        spec("slow.letters", "a" * 3000 + "!"),
        spec("slow.words", "a " * 1500 + "!"),
        spec("slow.pairs", "ab" * 1500 + "!"),
        spec("slow.x", "x " + "a" * 3000 + "!"),  # an 'x' word: patterns that need one are not prefiltered away
        spec("slow.snake", "a_" * 1500 + "!"),
    ]
)
"""Long bodies on which the patterns below backtrack for minutes (3,000 'a's, then no match at the '!')."""


class Expired(Exception):
    """Raised in the main thread by the ``within_deadline`` timer, out of the regex engine (never a ValueError)."""


def within_deadline(call: Callable[[], T], seconds: float = DEADLINE) -> T:
    """``call()`` in the main thread, interrupted by a SIGALRM timer after ``seconds``: the test then fails.

    Not a worker thread and ``future.result(timeout=...)``: CPython's regex
    engine holds the GIL while it matches, so the waiting thread would only
    wake when the match ends, minutes later (measured). The engine does check
    for signals, and the timer's handler raises out of it. Without
    ``setitimer`` (Windows) ``call`` just runs: a regression would hang there.
    """
    if not hasattr(signal, "setitimer"):
        return call()

    def expire(signum: int, frame: object) -> None:
        raise Expired

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return call()
    except Expired:
        pytest.fail(f"the search still ran after {seconds:g} s: it would hang the host")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="no SIGALRM timer on this platform")
def test_the_deadline_stops_a_catastrophic_match() -> None:
    """The containment tests are not vacuous: a catastrophic match, unguarded, is stopped and fails the test."""
    started = time.perf_counter()
    with pytest.raises(pytest.fail.Exception, match=r"still ran after 0.2 s"):
        within_deadline(lambda: re.search(r"(a+)+$", "a" * 40 + "!"), seconds=0.2)
    assert time.perf_counter() - started < 1


NESTED = "nested quantifiers such as"
AMBIGUOUS = "pattern too ambiguous"
CATASTROPHIC = {
    "nested-plus": (r"(a+)+$", NESTED),
    "nested-star": (r"(a*)*$", NESTED),
    "nested-lazy": (r"(a+?)+?$", NESTED),
    "same-alternatives": (r"(a|a)*$", NESTED),
    "overlapping-alternatives": (r"(a|aa)+$", NESTED),
    "words-and-spaces": (r"(\w+\s?)+$", NESTED),
    "repeated-dot-star": (r"(.*a){20}$", NESTED),
    "optional-pair": (r"(?:a?a?)+$", NESTED),
    "bounded-nested": (r"(a{1,10}){1,10}$", NESTED),
    "in-lookahead": (r"(?=(a+)+$)a", NESTED),
    "snake-words": (r"([a-z]+_?)+$", NESTED),
    "adjacent-repeats": (r"\w+\w+$", AMBIGUOUS),
    "dot-stars": (r".*.*.*x", AMBIGUOUS),
    "dot-stars-between-letters": (r".*a.*a.*!x", AMBIGUOUS),
    "alternation-chain": ("(?:a|a)" * 20 + "!", AMBIGUOUS),
    "backreference": (r"(a+)\1+$", "backreferences and conditional groups"),
}
"""Each backtracks for more than 5 s over ``SLOW``'s bodies with plain ``re`` (measured; most for minutes)."""


@pytest.mark.parametrize(("pattern", "message"), list(CATASTROPHIC.values()), ids=list(CATASTROPHIC))
def test_catastrophic_patterns_are_refused_at_once(pattern: str, message: str) -> None:
    """The host does not hang: the search returns at once, refusing the pattern and saying why."""
    started = time.perf_counter()
    with pytest.raises(ValueError, match=re.escape(message)) as refused:
        within_deadline(lambda: SLOW.search(pattern, mode="regex"))
    assert time.perf_counter() - started < DEADLINE
    assert "e.g. '" in str(refused.value)  # says what to write instead


USEFUL_CATALOGUE = [
    spec("crm.list_users", "List the users of the CRM."),
    spec("crm.find_orders", "Find orders by customer."),
    spec("mail.send_email", "Send an email message."),
    spec("billing.refund_order", "Refund an order to the customer's card."),
    spec("billing.get_invoice", "Get one invoice."),
]
USEFUL = {
    "alternatives": (r"send|email", ["mail.send_email"]),
    "anchored-namespace": (r"^crm\.", ["crm.list_users", "crm.find_orders"]),
    "words-in-order": (r"refund.*order", ["billing.refund_order"]),
    "prefix-and-rest": (r"\bget_\w+", ["billing.get_invoice"]),
    "alternation-groups": (r"(list|find)_(user|order)s?", ["crm.list_users", "crm.find_orders"]),
}


@pytest.mark.parametrize(("pattern", "expected"), list(USEFUL.values()), ids=list(USEFUL))
def test_useful_patterns_still_work(pattern: str, expected: list[str]) -> None:
    assert names(ToolIndex(USEFUL_CATALOGUE).search(pattern, mode="regex")) == expected
    within_deadline(lambda: SLOW.search(pattern, mode="regex"))


ALLOWED = {
    "deterministic-repeats": r"service\s+to\s+prod\s+now",
    "optional-then-open": r"(get_)?\w+_id",
    "alternatives-then-open": r"(send|notify).*email",
    "open-then-last": r"\w+_\w+",
    "possessive": r"\w++\w+$",
    "repeated-text": r"(ab)+",
    "largest-count": f"a{{{MAX_REPEAT_COUNT}}}",
    "negated-class": r"[^!]*!",
    "optional-letter": r"colou?rs?",
}


@pytest.mark.parametrize("pattern", list(ALLOWED.values()), ids=list(ALLOWED))
def test_the_guard_lets_harmless_patterns_through(pattern: str) -> None:
    """Patterns the guard could mistake for dangerous ones pass, and match promptly on the long bodies."""
    plan_regex(pattern)
    within_deadline(lambda: SLOW.search(pattern, mode="regex"))


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        (r"(a)\1", "backreferences"),
        (r"(?P<w>a)(?P=w)", "backreferences"),
        (r"(a)?(?(1)b|c)", "conditional groups"),
        (f"a{{{MAX_REPEAT_COUNT + 1}}}", r"repeat count too large \(101, the limit is 100\)"),
        (r"a{0,500}", r"repeat count too large \(500"),
        (r"a{101,}", r"repeat count too large \(101"),
        ("a?" * (MAX_REPEATS + 1), r"too many repeats in one pattern \(11, the limit is 10\)"),
        (r"(ab|cd)+", NESTED),
        (r"refund.*order.*id", AMBIGUOUS),
        (r"(get_)?.*\s+id", AMBIGUOUS),
    ],
    ids=[
        "backreference",
        "named-backreference",
        "conditional",
        "count",
        "max",
        "min",
        "repeats",
        "alternation",
        "two-dot-stars",
        "scan-after-open",
    ],
)
def test_each_rule_says_what_is_wrong(index: ToolIndex, pattern: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        index.search(pattern, mode="regex")


def test_every_search_stops_after_its_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pattern the guard allows is still quadratic in a body; over many long bodies the search stops."""
    monkeypatch.setattr(_search, "REGEX_SECONDS", 0.05)
    index = ToolIndex([spec(f"long.t{n}", "a" * MAX_BODY_CHARS) for n in range(200)])
    started = time.perf_counter()
    with pytest.raises(ValueError, match=r"regex search stopped after 0.05 s, too slow over 200 tools"):
        within_deadline(lambda: index.search(r"[^!]*!", mode="regex"))
    assert time.perf_counter() - started < 2


FALLBACK_REFUSED = {
    "nested": (r"(a+)+$", NESTED),
    "alternatives": (r"(a|a)*$", NESTED),
    "backreference": (r"(a)\1", "backreferences"),
    "named-backreference": (r"(?P<w>a)(?P=w)", "backreferences"),
    "conditional": (r"(a)?(?(1)b|c)", "backreferences"),
    "adjacent-repeats": (r"\w+\w+$", AMBIGUOUS),
    "dot-stars": (r".*.*.*x", AMBIGUOUS),
    "alternation-chain": ("(?:a|a)" * 20 + "!", AMBIGUOUS),
    "count": (r"a{101}", "repeat count too large"),
    "repeats": ("a?" * 11, "too many repeats"),
    "verbose": (r"(?x)(a +) +$", "verbose mode"),
}


@pytest.mark.parametrize(("pattern", "message"), list(FALLBACK_REFUSED.values()), ids=list(FALLBACK_REFUSED))
def test_without_the_parser_a_textual_guard_refuses(
    monkeypatch: pytest.MonkeyPatch, pattern: str, message: str
) -> None:
    """A Python without ``re._parser`` keeps a guard (stricter, on the text): it never silently disappears."""
    monkeypatch.setattr(_regex_plan, "_parser", None)
    with pytest.raises(ValueError, match=re.escape(message)):
        within_deadline(lambda: SLOW.search(pattern, mode="regex"))


@pytest.mark.parametrize("pattern", [*(p for p, _ in USEFUL.values()), r"\w+ing", r"[^\s]+ed\b"], ids=lambda p: p)
def test_without_the_parser_searches_count_the_same(monkeypatch: pytest.MonkeyPatch, pattern: str) -> None:
    """Without the parser every tool is scanned with the plain pattern: the same hits."""
    catalogue = [*REFERENCE, *(tool for tool in USEFUL_CATALOGUE if tool.name != "mail.send_email")]
    expected = ToolIndex(catalogue).search(pattern, mode="regex", k=100)
    monkeypatch.setattr(_regex_plan, "_parser", None)
    assert ToolIndex(catalogue).search(pattern, mode="regex", k=100) == expected


def test_case_folds_to_ascii_letters_are_all_known() -> None:
    """The guard's ``_FOLDS``: every non-ASCII character IGNORECASE matches to an ASCII letter."""
    text = "".join(map(chr, range(128, sys.maxunicode + 1))).encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    found: dict[str, str] = {}
    for match in re.finditer("[a-z]", text, re.IGNORECASE):
        letter = next(c for c in "abcdefghijklmnopqrstuvwxyz" if re.fullmatch(c, match[0], re.IGNORECASE))
        found[letter] = found.get(letter, "") + match[0]
    assert found == _regex_plan._FOLDS


def test_a_repeat_before_a_folded_letter_counts_as_ambiguous() -> None:
    """'\u017f' (long s) matches 's' under IGNORECASE: '[\u017f]+s' can give a character back, so the second
    open repeat after it is refused; '[x]+s' cannot."""
    with pytest.raises(ValueError, match=AMBIGUOUS):
        plan_regex("[\u017f]+s\\w+$")
    plan_regex("[x]+s\\w+$")


def test_plan_holds_the_prefilter_and_the_literals() -> None:
    assert plan_regex("send|email").literals == ("send", "email")
    plan = plan_regex(r"refund.*order")
    assert plan.literals is None and plan.fast_count is not None
    assert plan.clauses == (frozenset({"refund"}), frozenset({"order"}))  # most selective first
    assert plan.count("Refund the ORDER; refund an order") == 1  # .* is greedy: one match per line
    assert plan_regex("Send").fast_count is None  # uppercase: matched in the text, with IGNORECASE
    assert OPEN_WAYS == MAX_BODY_CHARS  # an open-ended repeat takes at most as many lengths as a body has characters


def test_k_is_respected(index: ToolIndex) -> None:
    assert len(index.search("candidate", k=1)) == 1
    assert len(index.search("candidate", k=2)) == 2
    assert len(index.search("candidate", k=100)) == 3  # only the tools that match
    assert len(index.search("candidate", mode="regex", k=2)) == 2


def test_no_match_is_no_hit(index: ToolIndex) -> None:
    assert index.search("zebra") == []
    assert index.search("the of and") == []  # only stopwords
    assert index.search("zebra|giraffe", mode="regex") == []


def test_ties_keep_the_indexing_order() -> None:
    twins = [spec(f"twin.t{n}", "Water the plants.") for n in (3, 1, 2)]
    for mode in ("bm25", "regex"):
        assert names(ToolIndex(twins).search("plants", mode=mode)) == ["twin.t3", "twin.t1", "twin.t2"]
        assert names(ToolIndex(twins[::-1]).search("plants", mode=mode, k=2)) == ["twin.t2", "twin.t1"]


def test_spec_and_len(index: ToolIndex) -> None:
    assert len(index) == len(CRM)
    assert index.spec("crm.tag_candidate") is CRM[1]
    assert index.spec("crm.nothing") is None
    assert len(ToolIndex([])) == 0
    assert ToolIndex([]).search("anything") == []


def test_duplicate_names_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"duplicate tool name 'crm.tag_candidate'"):
        ToolIndex([*CRM, spec("crm.tag_candidate", "Another one.")])


@pytest.mark.parametrize(
    ("query", "mode", "k", "message"),
    [
        ("", "bm25", 5, "empty query"),
        ("   ", "regex", 5, "empty query"),
        ("tag", "bm25", 0, "k=0 is out of range"),
        ("tag", "regex", 101, "k=101 is out of range"),
        ("tag", "bm25", True, "k=True is out of range"),
        ("tag", "fuzzy", 5, "unknown search mode 'fuzzy'"),
        ("tag(", "regex", 5, r"invalid regex 'tag\(': missing \), unterminated subpattern"),
        ("*tag", "regex", 5, "invalid regex .* nothing to repeat"),
        ("a" * (MAX_PATTERN_CHARS + 1), "regex", 5, r"regex pattern too long \(501 characters, the limit is 500\)"),
    ],
    ids=["empty", "blank-regex", "k-zero", "k-too-big", "k-bool", "mode", "unbalanced", "nothing-to-repeat", "long"],
)
def test_bad_input_is_rejected(index: ToolIndex, query: str, mode: Any, k: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        index.search(query, mode=mode, k=k)


def test_tag_in_bm25_is_plain_words(index: ToolIndex) -> None:
    """A pattern's syntax means nothing to BM25: its words are searched."""
    assert names(index.search("tag(", k=1)) == ["crm.tag_candidate"]


def test_body_is_bounded() -> None:
    big = spec("big.tool", "word " * 10_000, **{f"p{n}": {"description": "x" * 100} for n in range(100)})
    index = ToolIndex([big, spec("small.tool", "word")])
    assert len(_body(big)) <= 4000
    assert names(index.search("word", mode="regex")) == ["big.tool", "small.tool"]
