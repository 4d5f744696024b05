"""Versioning (PROTOCOL.md section 8): every generated document says the protocol's version and
revision, the changelog's newest entry is that revision, each capability flag is documented and
announced by a real agent, and the published schema lets pages meet a later revision's additions
while the agent refuses what it does not know."""

from __future__ import annotations

import re
from pathlib import Path

import jsonschema
import pytest

from bridge_protocol.capabilities import FEATURES, METHOD_CAPABILITIES
from bridge_protocol.client import BridgeClient, BridgeError
from bridge_protocol.documents import agent_sent_types, asyncapi_document, document_version, json_schema_document
from bridge_protocol.kinds import KINDS
from bridge_protocol.messages import PROTOCOL_REVISION, PROTOCOL_VERSION
from bridge_protocol.openapi import openapi_document
from bridge_protocol.typescript import typescript_declarations
from tests.support.agent_process import AgentProcess
from tests.support.platform_server import PlatformServer

ROOT = Path(__file__).resolve().parents[2]


def test_documents_carry_the_protocol_version_and_revision() -> None:
    version = f"{PROTOCOL_VERSION}.{PROTOCOL_REVISION}.0"
    assert document_version() == version
    assert asyncapi_document()["info"]["version"] == version
    assert openapi_document()["info"]["version"] == version
    schema = json_schema_document(strict=False)
    assert (schema["x-protocol"], schema["x-protocol-revision"], schema["x-version"]) == (
        PROTOCOL_VERSION, PROTOCOL_REVISION, version)
    assert f"protocol {PROTOCOL_VERSION}, revision {PROTOCOL_VERSION}.{PROTOCOL_REVISION}," in typescript_declarations()


def test_the_changelogs_newest_entry_is_this_revision() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    entries = re.findall(r"^## Protocol (\d+)\.(\d+)\b", changelog, re.MULTILINE)
    assert entries, "CHANGELOG.md has no protocol entry"
    assert entries[0] == (str(PROTOCOL_VERSION), str(PROTOCOL_REVISION))
    for flag in FEATURES:
        assert f"`{flag}`" in changelog, f"{flag}: which revision added it?"


def test_every_capability_flag_is_documented() -> None:
    spec = (ROOT / "bridge_protocol" / "PROTOCOL.md").read_text(encoding="utf-8")
    section = spec[spec.index("## 8. Versioning"):]
    for flag in FEATURES:
        assert f"| `{flag}` |" in section
    assert all(re.fullmatch(r"[a-z.]+:[a-z_]+", flag) for flag in FEATURES)
    assert not set(FEATURES) & {f"job:{k}" for k in KINDS}


async def test_a_real_agent_announces_methods_kinds_and_features(agent: AgentProcess, platform: PlatformServer) -> None:
    async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as client:
        hello = await client.hello()
    assert hello["protocol"] == PROTOCOL_VERSION
    assert set(hello["capabilities"]) == {*METHOD_CAPABILITIES, *(f"job:{k}" for k in KINDS), *FEATURES}


def _validator(schema: dict, definition: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator({"$ref": f"#/$defs/{definition}", "$defs": schema["$defs"]})


def test_the_published_schema_accepts_a_later_revisions_additions_to_what_the_agent_sends() -> None:
    """Old pages, new agents: a snapshot with a member added later still validates against the
    published schema; the strict form (what this agent sends, used by the tests) refuses it, and what
    pages send stays closed in both."""
    snapshot = {"id": "j1", "kind": "sign", "state": "running", "progress": 5, "steps": [], "current": None,
                "message": None, "result": None, "error": None, "created_at": "2026-12-07T04:00:00Z",
                "updated_at": "2026-12-07T04:00:01Z", "speed": None, "subject": None, "eta_seconds": 12}
    published, strict = json_schema_document(strict=False), json_schema_document(strict=True)
    _validator(published, "JobSnapshot").validate(snapshot)
    with pytest.raises(jsonschema.ValidationError, match="eta_seconds"):
        _validator(strict, "JobSnapshot").validate(snapshot)
    for schema in (published, strict):
        with pytest.raises(jsonschema.ValidationError):
            _validator(schema, "SignParams").validate({"files": [], "certificate": "c", "later_option": True})
    assert "JobSnapshot" in agent_sent_types() and "SignParams" not in agent_sent_types()


async def test_new_pages_meet_old_agents_with_an_immediate_refusal(agent: AgentProcess,
                                                                  platform: PlatformServer) -> None:
    """A member this agent does not know is refused at once, naming it, never ignored."""
    async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as client:
        with pytest.raises(BridgeError) as refused:
            await client.call("files.pick", {"multiple": True, "later_option": 1})
        assert refused.value.code == "INVALID_PARAMS"
        assert refused.value.data["path"] == "/params/later_option"
