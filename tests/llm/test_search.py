"""ToolIndex: BM25 and regex search over tool names, descriptions and parameters, on small hand-built catalogues."""

from __future__ import annotations

import re
from typing import Any

import pytest

from runtime.llm._search import MAX_PATTERN_CHARS, NAME_WEIGHT, SearchHit, ToolIndex, _body
from runtime.llm._spec import ToolSpec


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
    "backreference": r"(a)\1",
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
