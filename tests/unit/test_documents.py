"""The published schema and AsyncAPI documents are generated from the message types."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema

from bridge_protocol.documents import asyncapi_document, json_schema_document, rendered
from bridge_protocol.errors import ERRORS, ErrorCode
from bridge_protocol.messages import METHODS

ROOT = Path(__file__).resolve().parents[2]


def test_documents_on_disk_are_fresh() -> None:
    for path, text in rendered().items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.name} is stale: run `python -m bridge_protocol.documents`"
        )


def test_json_schema_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(json_schema_document())


def test_asyncapi_has_every_method_and_notification() -> None:
    doc = asyncapi_document()
    assert doc["asyncapi"].startswith("3.")
    names = {m["name"] for m in doc["components"]["messages"].values()}
    assert set(METHODS) <= names and "jobs.updated" in names
    refs = re.findall(r'"\$ref": "#/components/schemas/(\w+)"', json.dumps(doc))
    assert set(refs) <= set(doc["components"]["schemas"])


def test_error_codes_are_unique_and_documented() -> None:
    rpc_codes = [info.rpc_code for info in ERRORS.values()]
    assert len(rpc_codes) == len(set(rpc_codes))
    assert set(ERRORS) == set(ErrorCode)
    spec = (ROOT / "bridge_protocol" / "PROTOCOL.md").read_text(encoding="utf-8")
    for code in ErrorCode:
        assert f"`{code.value}`" in spec, f"{code.value} missing from PROTOCOL.md"
    for method in METHODS:
        assert f"`{method}`" in spec
