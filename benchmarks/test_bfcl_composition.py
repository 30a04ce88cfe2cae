"""The composition win on a public dataset: BFCL v4 multi-turn base, its ground truth sent three ways.

For every entry (a deterministic tenth of them in quick mode and with
``--benchmark-disable``) and every turn, the ground-truth calls go through
``Conversation.handle`` against fresh backends loaded from the entry's
``initial_config`` (``bfcl_multi_turn.py``):

* ``one_per_round_trip``: one direct tool call per model round trip (classic tool calling);
* ``batch``: all of a turn's calls in one batch request (run concurrently: order is not guaranteed);
* ``batch_waves``: ordered batches, a state-changing call alone in its batch (the replay says which calls change
  state), so order holds at the cost of more round trips;
* ``code``: one code action per turn, a generated script making the turn's calls in order.

Correctness: after every turn the backends' public state must equal a
direct replay of the ground truth (BFCL's state check), and what came back
must equal the replay's results. Reported per strategy: model round trips,
model calls (one more per turn: the answer), bytes of tool output returned
to the model, host time, and wall time = host time + model calls x the
simulated model latency (``OTC_BENCH_MODEL_LATENCY`` seconds, default 0.5;
added arithmetically, never slept). Skipped, with the reason, without
``bfcl-eval``; entries whose backends need a missing package are left out
and counted.
"""

from __future__ import annotations

import collections
import os
import statistics
from typing import Any

import pytest
from bench_support import NOTES, Record, quartiles, quick
from bfcl_multi_turn import (
    INSTALL,
    STRATEGIES,
    Entry,
    Replay,
    Strategy,
    TurnRun,
    backend_problem,
    data_dir,
    load_entries,
    replay,
    run_entry,
)
from pytest_benchmark.fixture import BenchmarkFixture

LATENCY_ENV = "OTC_BENCH_MODEL_LATENCY"
LATENCY = float(os.environ.get(LATENCY_ENV, "0.5"))
SECTION = f"BFCL v4 multi-turn base: ground truth sent four ways ({LATENCY:g} s simulated latency per model call)"
SUBSET = 10
"""Quick mode (and ``--benchmark-disable``) keeps every ``SUBSET``-th usable entry."""
_CLASSIC: dict[str, float] = {}


def _disabled(config: pytest.Config) -> bool:
    return bool(config.getoption("benchmark_disable") and not config.getoption("benchmark_enable"))


@pytest.fixture(scope="module")
def dataset(request: pytest.FixtureRequest) -> tuple[list[Entry], dict[str, Replay], dict[str, Any]]:
    """(the entries used, their direct replays, what was left out and why)."""
    data = data_dir()
    if data is None:
        pytest.skip(f"bfcl-eval not installed: {INSTALL}")
    entries = load_entries(data)
    problems = {entry.id: backend_problem(entry) for entry in entries}
    usable = [entry for entry in entries if problems[entry.id] is None]
    subset = quick() or _disabled(request.config)
    used = usable[::SUBSET] if subset else usable
    about = {
        "entries": len(entries),
        "used": len(used),
        "subset": f"every {SUBSET}th usable entry" if subset else "all usable entries",
        "left_out": dict(collections.Counter(problem for problem in problems.values() if problem)),
        "model_latency_s": LATENCY,
    }
    request.config.stash[NOTES]["bfcl"] = about
    return used, {entry.id: replay(entry) for entry in used}, about


def _excused(entries: list[Entry], replays: dict[str, Replay]) -> list[bool]:
    """Per turn (flattened): at or after a turn whose ground truth fails the tools' own schemas, in its entry."""
    flags = []
    for entry in entries:
        bad = False
        for rejected in replays[entry.id].rejected:
            bad = bad or bool(rejected)
            flags.append(bad)
    return flags


def _order_sensitive(entries: list[Entry], replays: dict[str, Replay]) -> int:
    """Turns where a state-changing call is followed by another call: a concurrent batch may reorder them."""
    return sum(1 for entry in entries for changes in replays[entry.id].changes if any(changes[:-1]))


@pytest.mark.parametrize("strategy", STRATEGIES, ids=str)
def test_bfcl_strategy(
    benchmark: BenchmarkFixture,
    figure: Record,
    dataset: tuple[list[Entry], dict[str, Replay], dict[str, Any]],
    strategy: Strategy,
) -> None:
    """Every turn of the dataset done ``strategy``'s way; state and results checked against the replay."""
    entries, replays, about = dataset
    runs: list[list[TurnRun]] = []

    def once() -> None:
        runs.append([turn for entry in entries for turn in run_entry(strategy, entry, replays[entry.id])])

    rounds = 1 if benchmark.disabled or quick() else 3
    benchmark.pedantic(once, rounds=rounds)
    excused = _excused(entries, replays)
    for run in runs:
        assert len(run) == len(excused)
        if strategy != "batch":  # the others keep the ground truth's order: every turn must match
            wrong = [turn for turn, ok in zip(run, excused, strict=True) if not ok and not _matched(turn)]
            assert not wrong, f"{len(wrong)} turns differ from the direct replay"
    rejected = sorted({reason for entry in entries for reason in replays[entry.id].rejected if reason})
    detail = f"{sum(excused)} turns at or after ground truth that fails the tools' own type hints {rejected}"
    if strategy == "batch":
        detail += f"; {_order_sensitive(entries, replays)} turns depend on call order, which a concurrent batch does "
        detail += "not guarantee"
    _record(figure, strategy, runs, about, detail)


def _matched(turn: TurnRun) -> bool:
    return turn.state_matched and turn.results_matched


def _record(figure: Record, strategy: Strategy, runs: list[list[TurnRun]], about: dict[str, Any], match: str) -> None:
    run = runs[-1]
    turns = len(run)
    trips = sum(turn.round_trips for turn in run)
    calls = trips + turns  # each turn ends with the model's answer
    size = sum(turn.output_bytes for turn in run)
    hosts = [sum(turn.host_seconds for turn in each) for each in runs]
    host = statistics.median(hosts)
    wall = host + calls * LATENCY
    per_turn = statistics.median(turn.host_seconds for turn in run if turn.round_trips) * 1e3
    matched = sum(_matched(turn) for turn in run)
    if strategy == STRATEGIES[0]:
        _CLASSIC.update(trips=trips, size=size, wall=wall)
        left = "; ".join(f"{n} entries: {why}" for why, n in about["left_out"].items()) or "none"
        figure(
            SECTION,
            "entries",
            about["used"],
            "entries",
            detail=f"of {about['entries']}, {about['subset']}; left out: {left}",
            peer="dataset",
            scenario="bfcl:entries",
        )

    def versus(key: str, value: float) -> str:
        return (
            f"; {value / _CLASSIC[key]:.2f}x one_per_round_trip"
            if key in _CLASSIC and strategy != STRATEGIES[0]
            else ""
        )

    common: dict[str, Any] = {"peer": strategy, "rounds": len(runs)}
    figure(
        SECTION,
        f"{strategy}: model round trips",
        trips,
        "trips",
        scenario="bfcl:round_trips",
        detail=f"{turns} turns{versus('trips', trips)}",
        **common,
    )
    figure(SECTION, f"{strategy}: model calls", calls, "calls", scenario="bfcl:model_calls", **common)
    figure(
        SECTION,
        f"{strategy}: tool output to the model",
        size,
        "bytes",
        scenario="bfcl:bytes",
        detail=versus("size", size).lstrip("; "),
        **common,
    )
    figure(
        SECTION,
        f"{strategy}: host time, all turns",
        host,
        "s",
        scenario="bfcl:host",
        spread=quartiles(hosts),
        detail=f"median per turn with tools {per_turn:.2f} ms",
        **common,
    )
    figure(
        SECTION,
        f"{strategy}: wall time at {LATENCY:g} s per model call",
        wall,
        "s",
        scenario="bfcl:wall",
        detail=f"host time + {calls} x {LATENCY:g} s{versus('wall', wall)}",
        **common,
    )
    figure(
        SECTION,
        f"{strategy}: turns matching the replay",
        matched,
        "turns",
        scenario="bfcl:matched",
        detail=f"of {turns}; {match}",
        **common,
    )
