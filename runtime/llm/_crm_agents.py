"""The seed scenario as three scripted agents: "tag the 200 active candidates as reviewed".

The same job, against the example CRM, done the three ways a model can:

- ``one_per_turn``: classic tool calling, one tool call per model turn;
- ``batch``: list the candidates, then tag them all in one batch request;
- ``code``: one code action that lists, tags and returns only the count.

Each is a ``ScriptedModel`` that reads the tool results it gets back, as a
model would, so the loop is real: only the model's choices are scripted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from host_functions import ExampleCRM

from ._agent import AgentRun, run_agent
from ._scripted_model import ScriptedModel, Seen, Step, Turn, call
from ._toolkit import Toolkit

if TYPE_CHECKING:
    from .providers import ProviderFormat

__all__ = ["PROMPT", "STRATEGIES", "Strategy", "crm_agent", "run_crm_agent"]

Strategy = Literal["one_per_turn", "batch", "code"]
STRATEGIES: tuple[Strategy, ...] = ("one_per_turn", "batch", "code")
PROMPT = "Tag the 200 active candidates as reviewed."

_SCRIPT = """\
cands = list_candidates(status="active", page_size=500)
await asyncio.gather(*(tag_candidate(c["id"], "reviewed") for c in cands))
print(f"tagged {len(cands)} candidates")
"""


def _ids(seen: Seen) -> list[int]:
    return [candidate["id"] for candidate in seen.result()]


def _one_per_turn(active: int) -> list[Step]:
    ids: list[int] = []

    def tag(index: int) -> Callable[[Seen], Turn]:
        def step(seen: Seen) -> Turn:
            if index == 0:
                ids.extend(_ids(seen))  # the model reads the list, then works through it
            return Turn(calls=[call("tag_candidate", candidate_id=ids[index], tag="reviewed")])

        return step

    listing: Step = Turn(calls=[call("list_candidates", status="active", page_size=500)])
    done: Step = Turn(text=f"Tagged all {active} active candidates as reviewed.")
    return [listing, *(tag(index) for index in range(active)), done]


def _batch(active: int) -> list[Step]:
    def tag_all(seen: Seen) -> Turn:
        calls = [{"tool": "tag_candidate", "arguments": {"candidate_id": i, "tag": "reviewed"}} for i in _ids(seen)]
        return Turn(calls=[call("batch", calls=calls)])

    def done(seen: Seen) -> Turn:
        ok = sum("ok" in item for item in seen.result())
        return Turn(text=f"Tagged {ok} active candidates as reviewed.")

    return [Turn(calls=[call("list_candidates", status="active", page_size=500)]), tag_all, done]


def _code(active: int) -> list[Step]:
    def done(seen: Seen) -> Turn:
        return Turn(text=f"Done: {seen.results[-1].content.strip()}.")

    return [Turn(calls=[call("execute_code", code=_SCRIPT)]), done]


def crm_agent(strategy: Strategy, provider: ProviderFormat, *, active: int = 200) -> ScriptedModel:
    """The scripted model that does the job with ``strategy``."""
    steps = {"one_per_turn": _one_per_turn, "batch": _batch, "code": _code}[strategy](active)
    return ScriptedModel(provider, steps)


def run_crm_agent(strategy: Strategy, provider: ProviderFormat, *, active: int = 200) -> tuple[AgentRun, ExampleCRM]:
    """Run the job once on a fresh CRM; the run's figures and the CRM after it."""
    crm = ExampleCRM(active=active)
    # One toolkit per strategy, exposing what that strategy uses: the classic
    # loop gets direct tools only; the others get the meta-tools as well.
    kit = Toolkit(
        direct=crm.toolset(),
        code_action=strategy == "code",
        batch=strategy == "batch",
        pool_size=1 if strategy == "code" else 0,
    )
    with kit:
        run = run_agent(crm_agent(strategy, provider, active=active), kit.conversation(), provider, PROMPT)
    return run, crm
