"""OpenAPI 3.1 description of the platform side: the HTTP endpoints a platform serves for the agent.

Generated from the types of ``platform.py`` (and written to ``schema/platform.openapi.json`` by
``python -m bridge_protocol.documents``), beside the written contract ``PLATFORM.md``:

* the consultation descriptor (``Consultation``), its sealed files and their blocks, with HTTP
  Range (RFC 9110 section 14);
* the opened results ``bids.open`` sends back (``OpenedResultUpload``);
* the encryption certificates ``keygen`` registers (``KeyRegistration``);
* the signed files ``sign`` and the sealed files ``encrypt`` upload (``SignedUpload``,
  ``SealedUpload``, and the deposit's receipt ``DepositAnswer``).

The URLs are the platform's choice: the page passes the descriptor's, ``upload_url`` and
``register_url``; the descriptor gives the files' and ``result_url``. The paths below are the
reference layout (the demo platform's). Every request of a job carries the job's bearer token.

What the agent sends is described strictly (``additionalProperties: false``); what it reads from a
platform may carry more members than described (the agent ignores them), so those schemas are open.
"""

from __future__ import annotations

import copy
from typing import Any

from .messages import PROTOCOL_REVISION, PROTOCOL_VERSION
from .platform import (
    Consultation,
    DepositAnswer,
    KeyRegistration,
    OpenedResultUpload,
    SealedUpload,
    SignedUpload,
    UploadAccepted,
)
from .typed import json_schema

#: Types the agent SENDS to the platform: their schemas stay closed.
SENT = (OpenedResultUpload, KeyRegistration, SealedUpload, SignedUpload)
#: Types the agent READS from the platform: their schemas are opened (extra members are ignored).
READ = (Consultation, DepositAnswer, UploadAccepted)

_BINARY = {"type": "string", "contentMediaType": "application/octet-stream"}
_ERROR = {"description": "An error; the body is for people (the agent shows the status only)."}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _open(schema: Any) -> Any:
    """``schema`` with every ``additionalProperties: false`` removed (members beyond are allowed)."""
    if isinstance(schema, dict):
        return {k: _open(v) for k, v in schema.items() if not (k == "additionalProperties" and v is False)}
    if isinstance(schema, list):
        return [_open(v) for v in schema]
    return schema


def _fix_refs(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: (v.replace("#/$defs/", "#/components/schemas/") if k == "$ref" else _fix_refs(v))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_fix_refs(v) for v in node]
    return node


def _schemas() -> dict[str, Any]:
    sent: dict[str, Any] = {}
    tp: type
    for tp in SENT:
        json_schema(tp, sent)
    read: dict[str, Any] = {}
    for tp in READ:
        json_schema(tp, read)
    schemas = {name: _fix_refs(body) for name, body in sent.items()}
    schemas.update({name: _open(_fix_refs(body)) for name, body in read.items()})
    # A form: the type's fields plus the file part.
    for tp, what in ((OpenedResultUpload, "the opened content"), (SignedUpload, "the signed file"),
                     (SealedUpload, "the sealed file (CMS, DER)")):
        form = copy.deepcopy(schemas[tp.__name__])
        form["properties"]["file"] = {**_BINARY, "description": what}
        form["required"] = [*form.get("required", []), "file"]
        schemas[f"{tp.__name__}Form"] = form
    return schemas


def _bearer() -> list[dict[str, list[str]]]:
    return [{"bearer": []}]


def _path_param(name: str, description: str, pattern: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if pattern:
        schema["pattern"] = pattern
    return {"name": name, "in": "path", "required": True, "description": description, "schema": schema}


def _download(summary: str, description: str, params: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "get": {
            "operationId": summary,
            "summary": description,
            "security": _bearer(),
            "parameters": [
                *params,
                {"name": "Range", "in": "header", "required": False,
                 "description": "Sent only to resume, from byte N: the open-ended form `bytes=N-`.",
                 "schema": {"type": "string", "pattern": r"^bytes=\d+-$"}},
                {"name": "Accept-Encoding", "in": "header", "required": False,
                 "description": "`identity`: no content coding on sealed files.",
                 "schema": {"type": "string"}},
            ],
            "responses": {
                "200": {"description": "The whole file (or block); `Content-Length` recommended.",
                        "headers": {"Accept-Ranges": {"schema": {"const": "bytes"}}},
                        "content": {"application/octet-stream": {"schema": _BINARY}}},
                "206": {"description": "From byte N (the Range asked), possibly shorter: the agent asks for the rest.",
                        "headers": {"Content-Range": {"required": True,
                                                      "schema": {"type": "string",
                                                                 "pattern": r"^bytes \d+-\d+/(\d+|\*)$"}}},
                        "content": {"application/octet-stream": {"schema": _BINARY}}},
                "401": _ERROR, "403": _ERROR,
                "404": {"description": "This file fails (FILE_NOT_FOUND); the others go on."},
                "410": {"description": "As 404."},
                "416": {"description": "Range not satisfiable: the agent starts the file (or block) over."},
            },
        }
    }


def _upload(operation: str, summary: str, form: str, answer: str, extra: dict[str, Any] | None = None,
            params: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "201": {"description": "Accepted (any 2xx is).", "content": {"application/json": {"schema": _ref(answer)}}},
        "400": _ERROR, "401": _ERROR, "403": _ERROR, "413": _ERROR,
    }
    responses.update(extra or {})
    return {
        "post": {
            "operationId": operation,
            "summary": summary,
            "security": _bearer(),
            "parameters": params or [],
            "requestBody": {
                "required": True,
                "content": {"multipart/form-data": {
                    "schema": _ref(form),
                    "encoding": {"file": {"contentType": "application/octet-stream"}},
                }},
            },
            "responses": responses,
        }
    }


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the platform side."""
    consultation = _path_param("consultation", "The consultation's id (the reference layout's).")
    file_id = _path_param("file", "The file's id, as the descriptor gives it.")
    paths: dict[str, Any] = {
        "/api/consultations/{consultation}": {
            "get": {
                "operationId": "getConsultation",
                "summary": "The consultation descriptor (the `url` a page passes to bids.download and bids.open).",
                "security": _bearer(),
                "parameters": [consultation],
                "responses": {
                    "200": {"description": "The descriptor, at most 16 MiB; relative URLs resolve against its own.",
                            "content": {"application/json": {"schema": _ref("Consultation")}}},
                    "401": _ERROR, "403": _ERROR, "404": _ERROR,
                },
            }
        },
        "/api/consultations/{consultation}/files/{file}": _download(
            "getSealedFile", "A sealed file in one piece (`SealedFile.url`), with Range.", [consultation, file_id]),
        "/api/consultations/{consultation}/files/{file}/blocks/{index}": _download(
            "getSealedFileBlock", "One block of a file stored in blocks (`FileBlock.url`), with Range.",
            [consultation, file_id, _path_param("index", "The block's index, from 0.", r"^\d+$")]),
        "/api/consultations/{consultation}/results": {
            **_upload("postOpenedResult",
                      "One opened file sent back by bids.open (`Consultation.result_url`); the same ids again "
                      "replace the earlier upload.",
                      "OpenedResultUploadForm", "UploadAccepted",
                      {"422": {"description": "`sha256` does not match the content received."}}, [consultation]),
        },
        "/api/consultations/{consultation}/plis": _upload(
            "postSealedFile",
            "One sealed file of a bidder, sent by encrypt (`upload_url`); answered with the pli's receipt.",
            "SealedUploadForm", "DepositAnswer",
            params=[consultation, {"name": "depot", "in": "query", "required": False,
                    "description": "The page's own query (the reference layout's deposit id).",
                    "schema": {"type": "string"}},
                   {"name": "company", "in": "query", "required": False,
                    "description": "The page's own query (the reference layout's bidder name).",
                    "schema": {"type": "string"}}]),
        "/api/signatures": _upload(
            "postSignedFile", "One signed output of a sign job (`upload_url`).", "SignedUploadForm", "UploadAccepted"),
        "/api/keys": {
            "post": {
                "operationId": "postKeyRegistration",
                "summary": "The encryption certificate a keygen job created (`register_url`); never a private key.",
                "security": _bearer(),
                "requestBody": {"required": True,
                                "content": {"application/json": {"schema": _ref("KeyRegistration")}}},
                "responses": {
                    "201": {"description": "Registered (any 2xx is).",
                            "content": {"application/json": {"schema": _ref("UploadAccepted")}}},
                    "400": _ERROR, "401": _ERROR, "403": _ERROR,
                },
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Compagnon platform contract",
            "version": f"{PROTOCOL_VERSION}.{PROTOCOL_REVISION}.0",
            "description": (
                "What a platform serves so that the Compagnon agent can download sealed bids, send back "
                "opened files, register encryption keys and receive signed and sealed files (PLATFORM.md). "
                "The agent calls only the origin of the page that started the job (redirects included); "
                "URLs are the platform's choice, these paths are the reference layout."
            ),
        },
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "servers": [{"url": "https://marches.example.fr", "description": "The platform's own origin."}],
        "paths": paths,
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "The job's short-lived token (`token` in its params), kept in memory only."},
            },
        },
    }
