from __future__ import annotations

import pytest

from bridge_protocol.messages import HelloParams, JobListParams, JobStartParams
from bridge_protocol.typed import ParseError, json_schema, parse


def test_parse_builds_nested_dataclasses() -> None:
    hello = parse(HelloParams, {"protocol": 1, "client": {"name": "p", "version": "2"}, "locale": "en"})
    assert hello.client.name == "p" and hello.locale == "en"


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({"client": {"name": "p", "version": "2"}}, "/protocol"),
        ({"protocol": True, "client": {"name": "p", "version": "2"}}, "/protocol"),
        ({"protocol": 1, "client": {"name": "p"}}, "/client/version"),
        ({"protocol": 1, "client": {"name": "p", "version": "2"}, "locale": "de"}, "/locale"),
        ({"protocol": 1, "client": {"name": "p", "version": "2"}, "extra": 1}, "/extra"),
        ({"protocol": 1, "client": {"name": "p" * 101, "version": "2"}}, "/client/name"),
        ([], "/"),
    ],
)
def test_parse_refuses_what_the_schema_refuses(value: object, path: str) -> None:
    with pytest.raises(ParseError) as err:
        parse(HelloParams, value)
    assert err.value.path == path


def test_limits_and_defaults() -> None:
    assert parse(JobListParams, {}).limit == 100
    with pytest.raises(ParseError):
        parse(JobListParams, {"limit": 501})
    assert parse(JobStartParams, {"kind": "diagnose"}).params == {}


def test_schema_mirrors_the_dataclass() -> None:
    defs: dict = {}
    ref = json_schema(HelloParams, defs)
    assert ref == {"$ref": "#/$defs/HelloParams"}
    body = defs["HelloParams"]
    assert body["required"] == ["protocol", "client"]
    assert body["additionalProperties"] is False
    assert defs["ClientInfo"]["properties"]["name"]["maxLength"] == 100
    assert body["properties"]["locale"] == {"anyOf": [{"enum": ["fr", "en"]}, {"type": "null"}]}
