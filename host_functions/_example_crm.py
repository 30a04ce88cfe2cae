"""An in-process, SQLite-backed example CRM: the demo's backend and a test double.

It behaves like a real tool backend would: tools validate against it, it
keeps state between calls, and it counts the calls it served, so a test can
check what a script really did (every record tagged, nothing twice).
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from enum import StrEnum

from pydantic import BaseModel

from runtime._errors import ToolError

from ._tool import Tool
from ._toolset import ToolSet

__all__ = ["Candidate", "ExampleCRM", "Status"]


class Status(StrEnum):
    """Where a candidate is in the pipeline."""

    ACTIVE = "active"
    HIRED = "hired"
    REJECTED = "rejected"


class Candidate(BaseModel):
    """A candidate record as the CRM returns it."""

    id: int
    name: str
    status: Status
    tags: list[str]


class ExampleCRM:
    """A small CRM with ``active`` candidates (and some hired and rejected ones).

    ``ExampleCRM(active=200).toolset()`` grants ``list_candidates``,
    ``get_candidate`` and ``tag_candidate``; ``calls`` counts what each served.
    Thread-safe: sync tools run on a thread pool. Its in-memory database is
    closed by ``close()`` (or ``with ExampleCRM() as crm:``), else when the
    CRM is garbage-collected.
    """

    def __init__(self, *, active: int = 200, others: int = 50) -> None:
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        # Closed with the CRM at the latest: from Python 3.13 a connection left open warns (ResourceWarning).
        self._close = weakref.finalize(self, self._db.close)
        self._lock = threading.Lock()
        self.calls: dict[str, int] = {"list_candidates": 0, "get_candidate": 0, "tag_candidate": 0}
        with self._db:
            self._db.execute("CREATE TABLE candidate (id INTEGER PRIMARY KEY, name TEXT, status TEXT)")
            self._db.execute("CREATE TABLE tag (candidate_id INTEGER, tag TEXT, UNIQUE(candidate_id, tag))")
            statuses = [Status.ACTIVE] * active + [Status.HIRED, Status.REJECTED] * (others // 2)
            self._db.executemany(
                "INSERT INTO candidate (id, name, status) VALUES (?, ?, ?)",
                [(i + 1, f"Candidate {i + 1}", status.value) for i, status in enumerate(statuses)],
            )

    def close(self) -> None:
        """Close the database; later tool calls fail (``sqlite3.ProgrammingError``)."""
        self._close()

    def __enter__(self) -> ExampleCRM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _candidate(self, row: tuple[int, str, str]) -> Candidate:
        tags = [t for (t,) in self._db.execute("SELECT tag FROM tag WHERE candidate_id = ? ORDER BY tag", (row[0],))]
        return Candidate(id=row[0], name=row[1], status=Status(row[2]), tags=tags)

    def list_candidates(self, status: Status, page_size: int = 50, page: int = 1) -> list[Candidate]:
        """List candidates with a given status, a page at a time.

        Args:
            status: Only candidates with this status.
            page_size: How many candidates per page (1 to 500).
            page: Which page, starting at 1.
        """
        if not 1 <= page_size <= 500 or page < 1:
            raise ToolError("page_size must be 1..500 and page at least 1")
        with self._lock:
            self.calls["list_candidates"] += 1
            rows = self._db.execute(
                "SELECT id, name, status FROM candidate WHERE status = ? ORDER BY id LIMIT ? OFFSET ?",
                (status.value, page_size, (page - 1) * page_size),
            ).fetchall()
            return [self._candidate(row) for row in rows]

    def get_candidate(self, candidate_id: int) -> Candidate:
        """Fetch one candidate by id.

        Args:
            candidate_id: The candidate's id.
        """
        with self._lock:
            self.calls["get_candidate"] += 1
            row = self._db.execute("SELECT id, name, status FROM candidate WHERE id = ?", (candidate_id,)).fetchone()
            if row is None:
                raise ToolError(f"no candidate with id {candidate_id}")
            return self._candidate(row)

    def tag_candidate(self, candidate_id: int, tag: str) -> None:
        """Attach a tag to a candidate (tagging twice is harmless).

        Args:
            candidate_id: The candidate's id.
            tag: The tag, 1 to 40 characters.
        """
        if not 1 <= len(tag) <= 40:
            raise ToolError("a tag has 1 to 40 characters")
        with self._lock, self._db:
            self.calls["tag_candidate"] += 1
            if self._db.execute("SELECT 1 FROM candidate WHERE id = ?", (candidate_id,)).fetchone() is None:
                raise ToolError(f"no candidate with id {candidate_id}")
            self._db.execute("INSERT OR IGNORE INTO tag VALUES (?, ?)", (candidate_id, tag))

    def tagged(self, tag: str) -> set[int]:
        """Ids of the candidates carrying ``tag`` (for checking a script's work)."""
        with self._lock:
            return {i for (i,) in self._db.execute("SELECT candidate_id FROM tag WHERE tag = ?", (tag,))}

    def toolset(self, *, namespace: str | None = None) -> ToolSet:
        """The CRM's tools, ready to grant to a sandbox."""
        return ToolSet(
            [
                Tool.from_function(self.list_candidates),
                Tool.from_function(self.get_candidate),
                Tool.from_function(self.tag_candidate),
            ],
            namespace=namespace,
        )
