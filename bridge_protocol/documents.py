"""Generate the published protocol documents from the message types.

``python -m bridge_protocol.documents`` rewrites ``schema/bridge.schema.json`` (JSON Schema 2020-12)
``schema/asyncapi.json`` (AsyncAPI 3.0), ``schema/platform.openapi.json`` (OpenAPI 3.1 of the
platform side, ``openapi.py``) and ``js/protocol.d.ts`` (TypeScript, ``typescript.py``). A test fails
when the files on disk are stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .errors import ERRORS
from .kind_errors import ANY_KIND, KIND_ERRORS
from .kinds import KINDS
from .messages import (
    BRIDGE_PATH,
    DEFAULT_PORT,
    METHODS,
    NOTIFICATIONS,
    PORTS,
    PROTOCOL_REVISION,
    PROTOCOL_VERSION,
    SHARED_PORTS,
)
from .openapi import openapi_document
from .typed import json_schema
from .typescript import typescript_declarations

SCHEMA_DIR = Path(__file__).parent / "schema"
JS_DIR = Path(__file__).parent / "js"
SCHEMA_ID = "https://compagnon.example/schema/bridge/v1"


def _camel(method: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in method.replace(".", "_").split("_"))


def document_version() -> str:
    """The version of every generated document: protocol, revision (PROTOCOL.md "Versioning")."""
    return f"{PROTOCOL_VERSION}.{PROTOCOL_REVISION}.0"


def agent_sent_types() -> set[str]:
    """Names of the types only the agent sends (results, snapshots, notifications)."""
    sent: dict[str, Any] = {}
    for m in METHODS.values():
        json_schema(m.result, sent)
    for k in KINDS.values():
        json_schema(k.result, sent)
    for tp in NOTIFICATIONS.values():
        json_schema(tp, sent)
    return set(sent)


def json_schema_document(strict: bool = True) -> dict[str, Any]:
    """Every message, method parameter, result, kind contract and error code in one schema.

    What the agent sends always has every member (none is optional there, only nullable).
    ``strict``: what the agent of this revision sends, exactly (``additionalProperties: false``
    everywhere; the tests check the agent's frames against it). Published (``strict=False``): the
    objects the agent sends allow members a later revision adds, which pages must ignore; what
    pages send stays closed (the agent refuses members it does not know: PROTOCOL.md "Versioning").
    """
    defs: dict[str, Any] = {}
    methods: dict[str, Any] = {}
    for m in METHODS.values():
        methods[m.name] = {
            "summary": m.summary,
            "params": json_schema(m.params, defs),
            "result": json_schema(m.result, defs),
        }
    notifications = {name: json_schema(tp, defs) for name, tp in NOTIFICATIONS.items()}
    kinds = {
        k.name: {
            "summary": k.summary,
            "params": json_schema(k.params, defs),
            "result": json_schema(k.result, defs),
            "errors": [c.value for c in (*KIND_ERRORS.get(k.name, {}), *ANY_KIND)],
        }
        for k in KINDS.values()
    }
    defs["RpcError"] = {
        "type": "object",
        "required": ["code", "message"],
        "properties": {
            "code": {"type": "integer"},
            "message": {"type": "string"},
            "data": {
                "type": "object",
                "properties": {"code": {"enum": [c.value for c in ERRORS]}},
                "required": ["code"],
            },
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Compagnon bridge protocol",
        "description": (
            f"JSON-RPC 2.0 over ws://127.0.0.1:{DEFAULT_PORT}{BRIDGE_PATH}, protocol {PROTOCOL_VERSION}."
        ),
        "x-protocol": PROTOCOL_VERSION,
        "x-protocol-revision": PROTOCOL_REVISION,
        "x-version": document_version(),
        "x-ports": list(PORTS),
        "x-shared-ports": [SHARED_PORTS[0], SHARED_PORTS[-1]],
        "x-methods": methods,
        "x-notifications": notifications,
        "x-kinds": kinds,
        "x-errors": {
            code.value: {"rpc_code": info.rpc_code, "fr": info.fr, "en": info.en}
            for code, info in ERRORS.items()
        },
        "$defs": _sent_by_agent(defs, agent_sent_types(), strict),
    }


def _sent_by_agent(defs: dict[str, Any], names: set[str], strict: bool) -> dict[str, Any]:
    """``defs`` where the objects named ``names`` (sent by the agent) require every member (the agent
    always sends them all, ``typed.to_json``) and, unless ``strict``, allow members a later revision
    adds."""
    out = {}
    for name, body in defs.items():
        if name in names:
            body = {**body, "required": list(body["properties"])}
            if not strict:
                body.pop("additionalProperties", None)
        out[name] = body
    return out


def _envelope(method: str, params_ref: dict[str, Any], with_id: bool) -> dict[str, Any]:
    props: dict[str, Any] = {
        "jsonrpc": {"const": "2.0"},
        "method": {"const": method},
        "params": params_ref,
    }
    required = ["jsonrpc", "method"]
    if with_id:
        props["id"] = {"type": ["string", "integer"]}
        required.append("id")
    return {"type": "object", "required": required, "properties": props}


def _response(result_ref: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["jsonrpc", "id"],
        "properties": {
            "jsonrpc": {"const": "2.0"},
            "id": {"type": ["string", "integer", "null"]},
            "result": result_ref,
            "error": {"$ref": "#/components/schemas/RpcError"},
        },
    }


def asyncapi_document(strict: bool = False) -> dict[str, Any]:
    """AsyncAPI 3.0: one channel (the bridge socket), an operation per method and notification;
    ``info.version`` is the protocol's version and revision (``document_version``)."""
    schema = json_schema_document(strict)
    defs = schema["$defs"]

    def fix(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: (v.replace("#/$defs/", "#/components/schemas/") if k == "$ref" else fix(v))
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [fix(v) for v in node]
        return node

    messages: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    channel_messages: dict[str, Any] = {}
    for name, m in schema["x-methods"].items():
        base = _camel(name)
        messages[f"{base}Request"] = {
            "name": name,
            "summary": m["summary"],
            "payload": fix(_envelope(name, m["params"], True)),
        }
        messages[f"{base}Response"] = {"name": f"{name} response", "payload": fix(_response(m["result"]))}
        for suffix in ("Request", "Response"):
            channel_messages[f"{base}{suffix}"] = {"$ref": f"#/components/messages/{base}{suffix}"}
        operations[base[:1].lower() + base[1:]] = {
            "action": "receive",
            "channel": {"$ref": "#/channels/bridge"},
            "summary": m["summary"],
            "messages": [{"$ref": f"#/channels/bridge/messages/{base}Request"}],
            "reply": {
                "channel": {"$ref": "#/channels/bridge"},
                "messages": [{"$ref": f"#/channels/bridge/messages/{base}Response"}],
            },
        }
    for name, payload in schema["x-notifications"].items():
        base = _camel(name)
        messages[base] = {"name": name, "payload": fix(_envelope(name, payload, False))}
        channel_messages[base] = {"$ref": f"#/components/messages/{base}"}
        operations[base[:1].lower() + base[1:]] = {
            "action": "send",
            "channel": {"$ref": "#/channels/bridge"},
            "messages": [{"$ref": f"#/channels/bridge/messages/{base}"}],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Compagnon bridge",
            "version": document_version(),
            "description": (
                "The WebSocket between platform pages and the Compagnon agent on the user's "
                "workstation. JSON-RPC 2.0 text frames. The handshake's Origin must be a "
                "configured platform origin and Host a loopback literal, else HTTP 403."
            ),
        },
        "servers": {
            f"port{p}": {"host": f"127.0.0.1:{p}", "protocol": "ws", "pathname": BRIDGE_PATH}
            for p in PORTS
        },
        "defaultContentType": "application/json",
        "channels": {"bridge": {"address": BRIDGE_PATH, "messages": channel_messages}},
        "operations": operations,
        "components": {"messages": messages, "schemas": fix(defs)},
    }


def rendered() -> dict[Path, str]:
    """The documents as they must be on disk."""
    return {
        SCHEMA_DIR / "bridge.schema.json": json.dumps(json_schema_document(strict=False), indent=2, ensure_ascii=False) + "\n",
        SCHEMA_DIR / "asyncapi.json": json.dumps(asyncapi_document(), indent=2, ensure_ascii=False) + "\n",
        SCHEMA_DIR / "platform.openapi.json": json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n",
        JS_DIR / "protocol.d.ts": typescript_declarations(),
    }


def main() -> int:
    for path, text in rendered().items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
