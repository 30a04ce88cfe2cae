"""``POST /v1/executions/stream``: output as it is printed, then the result (server-sent events)."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from server_harness import Auth

from runtime.server import BackgroundServer

SLOW = "import sys, time\nprint('first')\ntime.sleep(0.6)\nprint('oops', file=sys.stderr)\nprint('second')\n42"


def _events(response: httpx.Response) -> list[tuple[str, str, float]]:
    """(event, data, arrival time) for each event of an SSE response, read as it arrives."""
    events = []
    name, data = "", []
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data.append(line.removeprefix("data: "))
        elif not line and data:
            events.append((name, "\n".join(data), time.monotonic()))
            name, data = "", []
    return events


def test_output_arrives_as_it_is_printed(live_http: httpx.Client, auth: Auth) -> None:
    started = time.monotonic()
    with live_http.stream("POST", "/v1/executions/stream", json={"code": SLOW}, headers=auth("alice")) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = _events(response)

    assert [(name, json.loads(data)) for name, data, _ in events[:3]] == [
        ("stdout", "first\n"),
        ("stderr", "oops\n"),
        ("stdout", "second\n"),
    ]
    name, data, finished = events[-1]
    result = json.loads(data)
    assert (name, len(events)) == ("result", 4)
    assert (result["stdout"], result["stderr"], result["value"]) == ("first\nsecond\n", "oops\n", 42)
    first_arrival = events[0][2]
    assert first_arrival - started < 0.5  # before the script's sleep was over
    assert finished - first_arrival >= 0.5


def test_every_output_byte_is_streamed(live_http: httpx.Client, auth: Auth) -> None:
    code = "for i in range(200):\n    print(i, 'é' * (i % 7), end='\\n' if i % 3 else '')\nprint('a\\nb')"
    with live_http.stream("POST", "/v1/executions/stream", json={"code": code}, headers=auth("alice")) as response:
        events = _events(response)

    streamed = "".join(json.loads(data) for name, data, _ in events if name == "stdout")
    assert streamed == json.loads(events[-1][1])["stdout"]
    assert streamed.endswith("a\nb\n")


@pytest.mark.parametrize(
    ("body", "status"),
    [({"code": "1", "tools": ["nope"]}, 422), ({"code": "1", "limits": {"timeout": 99}}, 422), ({"code": 1}, 422)],
    ids=["unknown-tool", "over-ceiling", "invalid"],
)
def test_refused_streams_are_plain_json_errors(live_http: httpx.Client, auth: Auth, body: object, status: int) -> None:
    response = live_http.post("/v1/executions/stream", json=body, headers=auth("alice"))
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"


def test_closing_the_stream_cancels_the_run(live: BackgroundServer, live_http: httpx.Client, auth: Auth) -> None:
    code = "print('started')\nwhile True: pass"
    with live_http.stream("POST", "/v1/executions/stream", json={"code": code}, headers=auth("bob")) as response:
        lines = response.iter_lines()  # kept: a dropped line iterator would close the connection already
        assert next(lines) == "event: stdout"
        assert live_http.get("/healthz").json()["in_flight"] == 1
    deadline = time.monotonic() + 3.0  # well under the run's 5 s timeout
    while live_http.get("/healthz").json()["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert live_http.get("/healthz").json()["in_flight"] == 0
    assert "otc_executions_total" in live_http.get("/metrics").text and live.running
