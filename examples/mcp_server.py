"""The meta-tools behind MCP's ``tools/list`` and ``tools/call``, as JSON-RPC.

``serve`` answers one JSON-RPC message; run with ``--stdio`` it is a minimal
MCP server on stdin/stdout (newline-delimited JSON-RPC, as MCP's stdio
transport frames it). Run without arguments it plays a short client
session offline and prints each exchange.
"""

import json
import sys
from typing import Any

from host_functions import ExampleCRM
from runtime.llm import Conversation, Toolkit
from runtime.llm.providers import mcp


def serve(chat: Conversation, message: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON-RPC reply to ``message`` (None for a notification)."""
    method, msg_id = message.get("method"), message.get("id")
    if msg_id is None:
        return None
    if method == "initialize":
        result: dict[str, Any] = {
            "protocolVersion": "2025-06-18",
            "capabilities": {"tools": {"listChanged": False}},
            "serverInfo": {"name": "otc-runtime-example", "version": "0.1"},
        }
    elif method == "tools/list":
        result = mcp.list_tools_result(chat.specs())
    elif method == "tools/call":
        try:
            request = mcp.tool_request(message.get("params") or {}, msg_id)
        except ValueError as exc:
            return {"jsonrpc": "2.0", "id": msg_id, "error": {"code": -32602, "message": str(exc)}}
        result = mcp.call_tool_result(chat.handle(request))
    else:
        return {"jsonrpc": "2.0", "id": msg_id, "error": {"code": -32601, "message": f"no method {method!r}"}}
    return {"jsonrpc": "2.0", "id": msg_id, "result": result}


crm = ExampleCRM(active=200)
with Toolkit(direct=crm.toolset(namespace="crm")) as kit:
    chat = kit.conversation()
    if sys.argv[1:] == ["--stdio"]:
        for line in sys.stdin:
            reply = serve(chat, json.loads(line))
            if reply is not None:
                print(json.dumps(reply), flush=True)
    else:
        script = 'n = len(crm.list_candidates(status="active", page_size=500))\nf"{n} active"'
        session = [
            {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}},
            {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
            {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "crm.get_candidate",
                                                                           "arguments": {"candidate_id": 7}}},
            {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "execute_code",
                                                                           "arguments": {"code": script}}},
        ]  # fmt: skip
        for message in session:
            reply = serve(chat, message)
            assert reply is not None
            if message["method"] == "tools/list":
                print("tools/list ->", [tool["name"] for tool in reply["result"]["tools"]])
            else:
                print(f"{message['method']} ->", json.dumps(reply.get("result", reply.get("error")))[:150])
