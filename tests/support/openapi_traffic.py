"""Check recorded HTTP exchanges against an OpenAPI 3.1 document.

For each exchange: the operation its method and path match, the path, query and header
parameters, the bearer token the operation requires, the request body (JSON or multipart form)
against its schema, the status among the operation's responses, the response's required headers
and its JSON body against its schema. Schemas are checked with ``openapi_schema_validator``'s
OpenAPI 3.1 validator (JSON Schema 2020-12 with the OpenAPI dialect).
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
from typing import Any

from openapi_schema_validator import OAS31Validator

from tests.support.recording_proxy import Exchange


class OffContract(AssertionError):
    """An exchange the document does not allow."""


def _path_regex(template: str) -> re.Pattern[str]:
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
    return re.compile(f"^{pattern}$")


def _validate(doc: dict[str, Any], schema: dict[str, Any], value: Any, where: str) -> None:
    errors = sorted(OAS31Validator({**schema, "components": doc["components"]}).iter_errors(value), key=str)
    if errors:
        first = errors[0]
        raise OffContract(f"{where}: {first.message} at {list(first.absolute_path)}")


def form_fields(content_type: str, body: bytes) -> dict[str, str]:
    """The parts of a multipart/form-data body by name (file parts as latin-1 text)."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    if not message.is_multipart():
        raise OffContract("multipart body expected")
    fields: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        fields[str(name)] = payload.decode("latin-1") if part.get_filename() else payload.decode("utf-8")
    return fields


def _deserialise(doc: dict[str, Any], schema: dict[str, Any], fields: dict[str, str]) -> dict[str, Any]:
    """Form values are text on the wire: those the schema says are integers or booleans are read as
    such (OpenAPI 3.1 section 4.8.14.4, multipart property serialisation), the others stay text."""
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    out: dict[str, Any] = dict(fields)
    for name, value in fields.items():
        kind = schema.get("properties", {}).get(name, {}).get("type")
        if kind == "integer" and re.fullmatch(r"-?\d+", value):
            out[name] = int(value)
        elif kind == "boolean" and value in ("true", "false"):
            out[name] = value == "true"
    return out


def operation_of(doc: dict[str, Any], exchange: Exchange) -> tuple[str, dict[str, Any], dict[str, str]]:
    for template, item in doc["paths"].items():
        match = _path_regex(template).match(exchange.path)
        if match and exchange.method.lower() in item:
            return template, item[exchange.method.lower()], match.groupdict()
    raise OffContract(f"{exchange.method} {exchange.path}: no such operation")


def check_exchange(doc: dict[str, Any], exchange: Exchange) -> str:
    """The operationId of ``exchange``; OffContract when the document does not allow it."""
    _template, op, path_values = operation_of(doc, exchange)
    where = f"{op['operationId']} ({exchange.method} {exchange.path})"
    for param in op.get("parameters", []):
        name, location = param["name"], param["in"]
        value = {"path": path_values, "query": exchange.query,
                 "header": exchange.request_headers}[location].get(name)
        if value is None:
            if param.get("required"):
                raise OffContract(f"{where}: {location} parameter {name} missing")
            continue
        _validate(doc, param["schema"], value, f"{where} {location} {name}")
    for requirement in op.get("security", []):
        if "bearer" in requirement and not re.fullmatch(r"Bearer \S+", exchange.request_headers.get("Authorization", "")):
            raise OffContract(f"{where}: no bearer token")
    if "requestBody" in op:
        content_type = exchange.request_headers.get("Content-Type", "")
        media = content_type.split(";")[0].strip().lower()
        spec = op["requestBody"]["content"].get(media)
        if spec is None:
            raise OffContract(f"{where}: request body {media or 'missing'} not allowed")
        if media == "application/json":
            body: Any = json.loads(exchange.request_body)
        else:
            body = _deserialise(doc, spec["schema"], form_fields(content_type, exchange.request_body))
        _validate(doc, spec["schema"], body, f"{where} request body")
    response = op["responses"].get(str(exchange.status))
    if response is None:
        raise OffContract(f"{where}: status {exchange.status} not documented")
    for name, header in response.get("headers", {}).items():
        value = exchange.response_headers.get(name)
        if value is None:
            if header.get("required"):
                raise OffContract(f"{where}: response header {name} missing")
            continue
        _validate(doc, header["schema"], value, f"{where} response header {name}")
    if "content" in response:
        media = exchange.response_headers.get("Content-Type", "").split(";")[0].strip().lower()
        spec = response["content"].get(media)
        if spec is None:
            raise OffContract(f"{where}: response {media} not documented")
        if media == "application/json":
            _validate(doc, spec["schema"], json.loads(exchange.response_body), f"{where} response body")
    return str(op["operationId"])
