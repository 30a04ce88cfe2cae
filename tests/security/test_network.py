"""The guest cannot reach the network.

Real listeners run on the host (TCP and UDP on 127.0.0.1, ephemeral ports);
each script tries to reach them. The listeners' own counters decide: zero
connections, zero datagrams. A positive control at the end proves the
listeners did work, so the zero means something.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from runtime import Session


@dataclass
class Listeners:
    tcp_port: int
    udp_port: int
    tcp: socket.socket
    udp: socket.socket
    connections: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def accept_loop(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.tcp.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            conn.close()

    def datagrams(self) -> int:
        count = 0
        while True:
            try:
                self.udp.recvfrom(65536)
            except BlockingIOError:
                return count
            count += 1


@pytest.fixture
def listeners() -> Iterator[Listeners]:
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(16)
    tcp.settimeout(0.05)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.setblocking(False)
    state = Listeners(tcp.getsockname()[1], udp.getsockname()[1], tcp, udp)
    thread = threading.Thread(target=state.accept_loop, name="test-tcp-listener", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.stop.set()
        thread.join(timeout=2)
        tcp.close()
        udp.close()


ATTACKS = {
    "create-connection": "import socket\nsocket.create_connection(('127.0.0.1', {TCP}), timeout=2).sendall(b'hi')",
    "create-connection-localhost": "import socket\nsocket.create_connection(('localhost', {TCP}), timeout=2)",
    "raw-connect": "import socket\ns = socket.socket()\ns.connect(('127.0.0.1', {TCP}))\ns.send(b'hi')",
    "connect-ex": "import socket\nsocket.socket().connect_ex(('127.0.0.1', {TCP}))",
    "nonblocking-connect": (
        "import socket\ns = socket.socket()\ns.setblocking(False)\n"
        "try:\n    s.connect(('127.0.0.1', {TCP}))\nexcept BlockingIOError:\n    pass\ns.send(b'x')"
    ),
    "udp-sendto": (
        "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.sendto(b'x', ('127.0.0.1', {UDP}))"
    ),
    "udp-connect-send": (
        "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "s.connect(('127.0.0.1', {UDP}))\ns.send(b'x')"
    ),
    "getaddrinfo": "import socket\nsocket.getaddrinfo('localhost', {TCP})",
    "gethostbyname": "import socket\nsocket.gethostbyname('localhost')",
    "http-client": "import http.client\nhttp.client.HTTPConnection('127.0.0.1', {TCP}, timeout=2).request('GET', '/')",
    "urllib": "import urllib.request\nurllib.request.urlopen('http://127.0.0.1:{TCP}/', timeout=2)",
    "asyncio-open-connection": (
        "import asyncio\nasync def main():\n    await asyncio.open_connection('127.0.0.1', {TCP})\nasyncio.run(main())"
    ),
    "swallow-and-retry": (
        "import socket\nresults = []\n"
        "for i in range(20):\n"
        "    try:\n        socket.socket().connect(('127.0.0.1', {TCP}))\n        results.append('connected')\n"
        "    except BaseException as e:\n        results.append(type(e).__name__)\n"
        "results"
    ),
}


@pytest.mark.parametrize("attack", list(ATTACKS.values()), ids=list(ATTACKS))
def test_no_packet_reaches_the_host(attack, listeners, sandbox, check_healthy):
    code = attack.format(TCP=listeners.tcp_port, UDP=listeners.udp_port)

    result = sandbox.run(code)

    time.sleep(0.1)  # give a (wrongly) opened connection time to be accepted
    assert listeners.connections == 0, "the guest connected to the host's TCP listener"
    assert listeners.datagrams() == 0, "the guest's datagram reached the host's UDP socket"
    if isinstance(result.value, list):
        assert "connected" not in result.value
    check_healthy(sandbox)

    # Positive control: the listeners were working all along.
    socket.create_connection(("127.0.0.1", listeners.tcp_port), timeout=2).close()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.sendto(b"x", ("127.0.0.1", listeners.udp_port))
    deadline = time.monotonic() + 2
    while listeners.connections == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert listeners.connections == 1
    time.sleep(0.01)
    assert listeners.datagrams() == 1


def test_guest_cannot_listen_on_a_host_port(sandbox):
    # Find a free port, let a long-lived guest (a session) try to listen on it,
    # then connect from the host while that guest is still alive: refused.
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with sandbox.session() as session:
        session.run(
            "import socket\nserver = None\n"
            f"try:\n    server = socket.socket()\n    server.bind(('127.0.0.1', {port}))\n    server.listen(1)\n"
            "except BaseException:\n    pass"
        )
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_session_cannot_reach_network_either(listeners):
    with Session() as session:
        session.run(ATTACKS["swallow-and-retry"].format(TCP=listeners.tcp_port))
    time.sleep(0.1)
    assert listeners.connections == 0
