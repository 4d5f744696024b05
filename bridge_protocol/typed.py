"""Typed JSON: one dataclass definition gives both the JSON Schema (draft 2020-12) and the parser.

The protocol's message types are plain dataclasses. ``json_schema`` derives their schema for the
published documents, and ``parse`` turns received JSON into instances, refusing anything the schema
would refuse (unknown members, wrong types, limits set with ``field(metadata=...)``). Keeping both
in one place means the documents can never describe something the agent does not enforce.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from .errors import Wording

#: Keys of ``field(metadata=...)`` copied into the schema and enforced by ``parse``.
CONSTRAINTS = ("minimum", "maximum", "minLength", "maxLength", "maxItems", "pattern", "description")
#: ``field(metadata={LOCAL_ONLY: True})``: a member only the command line and the agent's own
#: console may set (a local path or folder); a web page that sets it is refused (``local_only_member``).
LOCAL_ONLY = "local_only"
LOCAL_ONLY_DESCRIPTION = "Command line only: a web page that sets it is refused (INVALID_PARAMS)."


class ParseError(ValueError):
    """Received JSON does not match the expected type. ``path`` is a JSON pointer."""

    def __init__(self, path: str, reason: str, english: str | None = None) -> None:
        super().__init__(f"{path or '/'}: {reason}")
        self.path = path or "/"
        self.reason = reason
        self.english = english or reason

    @property
    def wording(self) -> Wording:
        """The reason in French and English, for ``error.data.reason`` in the page's locale."""
        return Wording(self.reason, self.english)


@functools.cache
def type_hints(tp: type) -> dict[str, Any]:
    """Resolved annotations of a dataclass (cached: ``get_type_hints`` evaluates strings)."""
    return get_type_hints(tp)


@functools.cache
def field_map(tp: type) -> dict[str, dataclasses.Field[Any]]:
    """A dataclass's fields by name (cached)."""
    return {f.name: f for f in dataclasses.fields(tp)}


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType)


def json_schema(tp: Any, defs: dict[str, Any], meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """JSON Schema of ``tp``; dataclasses go into ``defs`` and are referenced by ``$ref``."""
    schema = _schema(tp, defs)
    for key in CONSTRAINTS:
        if meta and key in meta:
            schema[key] = meta[key]
    if meta and meta.get(LOCAL_ONLY) and "description" not in schema:
        schema["description"] = LOCAL_ONLY_DESCRIPTION
    return schema


def local_only_member(value: Any, path: str = "") -> str | None:
    """The JSON pointer of the first ``LOCAL_ONLY`` member that the parsed ``value`` sets (not
    None), searching nested dataclasses, lists and dicts; None when there is none."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            member = getattr(value, f.name)
            if member is None:
                continue
            if f.metadata.get(LOCAL_ONLY):
                return f"{path}/{f.name}"
            found = local_only_member(member, f"{path}/{f.name}")
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = local_only_member(item, f"{path}/{index}")
            if found is not None:
                return found
    elif isinstance(value, dict):
        for key, item in value.items():
            found = local_only_member(item, f"{path}/{_escape(str(key))}")
            if found is not None:
                return found
    return None


def _schema(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    if tp is Any:
        return {}
    if tp is type(None):
        return {"type": "null"}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if tp is str:
        return {"type": "string"}
    origin = get_origin(tp)
    if origin is Literal:
        values = list(get_args(tp))
        return {"const": values[0]} if len(values) == 1 else {"enum": values}
    if _is_union(tp):
        return {"anyOf": [_schema(arg, defs) for arg in get_args(tp)]}
    if origin is list:
        return {"type": "array", "items": _schema(get_args(tp)[0], defs)}
    if origin is dict:
        return {"type": "object", "additionalProperties": _schema(get_args(tp)[1], defs)}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        name = tp.__name__
        if name not in defs:
            defs[name] = {}  # placeholder against recursion
            hints = type_hints(tp)
            properties: dict[str, Any] = {}
            required: list[str] = []
            for f in dataclasses.fields(tp):
                properties[f.name] = json_schema(hints[f.name], defs, dict(f.metadata))
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    required.append(f.name)
            body: dict[str, Any] = {"type": "object", "properties": properties}
            if required:
                body["required"] = required
            body["additionalProperties"] = False
            doc = (tp.__doc__ or "").strip()
            if doc and not doc.startswith(f"{name}("):
                body["description"] = " ".join(doc.split())
            defs[name] = body
        return {"$ref": f"#/$defs/{name}"}
    raise TypeError(f"no JSON Schema for {tp!r}")


def parse(tp: Any, value: Any, path: str = "", meta: typing.Mapping[str, Any] | None = None) -> Any:
    """Check ``value`` (decoded JSON) against ``tp`` and build the typed value."""
    result = _parse(tp, value, path)
    if meta:
        _check_constraints(result, meta, path)
    return result


def _parse(tp: Any, value: Any, path: str) -> Any:
    if tp is Any:
        return value
    if tp is type(None):
        if value is not None:
            raise ParseError(path, "null attendu", "null expected")
        return None
    if tp is bool:
        if not isinstance(value, bool):
            raise ParseError(path, "booléen attendu", "boolean expected")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParseError(path, "entier attendu", "integer expected")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParseError(path, "nombre attendu", "number expected")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ParseError(path, "chaîne attendue", "string expected")
        return value
    origin = get_origin(tp)
    if origin is Literal:
        if value not in get_args(tp) or isinstance(value, bool) != any(
            isinstance(a, bool) for a in get_args(tp)
        ):
            allowed = ", ".join(repr(a) for a in get_args(tp))
            raise ParseError(path, f"valeur attendue parmi {allowed}", f"one of {allowed} expected")
        return value
    if _is_union(tp):
        errors: list[ParseError] = []
        for arg in get_args(tp):
            try:
                return _parse(arg, value, path)
            except ParseError as exc:
                errors.append(exc)
        raise ParseError(path, " ou ".join(dict.fromkeys(e.reason for e in errors)),
                         " or ".join(dict.fromkeys(e.english for e in errors)))
    if origin is list:
        if not isinstance(value, list):
            raise ParseError(path, "tableau attendu", "array expected")
        (item,) = get_args(tp)
        return [_parse(item, v, f"{path}/{i}") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ParseError(path, "objet attendu", "object expected")
        item = get_args(tp)[1]
        return {k: _parse(item, v, f"{path}/{_escape(k)}") for k, v in value.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ParseError(path, "objet attendu", "object expected")
        hints = type_hints(tp)
        fields = field_map(tp)
        for key in value:
            if key not in fields:
                raise ParseError(f"{path}/{_escape(key)}", "membre inconnu", "unknown member")
        kwargs = {}
        for name, f in fields.items():
            if name in value:
                kwargs[name] = parse(hints[name], value[name], f"{path}/{name}", f.metadata)
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ParseError(f"{path}/{name}", "membre obligatoire manquant", "required member missing")
        return tp(**kwargs)
    raise TypeError(f"cannot parse {tp!r}")


def _check_constraints(value: Any, meta: typing.Mapping[str, Any], path: str) -> None:
    if value is None:
        return
    if "minimum" in meta and value < meta["minimum"]:
        raise ParseError(path, f"doit être supérieur ou égal à {meta['minimum']}",
                         f"must be at least {meta['minimum']}")
    if "maximum" in meta and value > meta["maximum"]:
        raise ParseError(path, f"doit être inférieur ou égal à {meta['maximum']}",
                         f"must be at most {meta['maximum']}")
    if "minLength" in meta and len(value) < meta["minLength"]:
        raise ParseError(path, f"au moins {meta['minLength']} caractères", f"at least {meta['minLength']} characters")
    if "maxLength" in meta and len(value) > meta["maxLength"]:
        raise ParseError(path, f"au plus {meta['maxLength']} caractères", f"at most {meta['maxLength']} characters")
    if "maxItems" in meta and len(value) > meta["maxItems"]:
        raise ParseError(path, f"au plus {meta['maxItems']} éléments", f"at most {meta['maxItems']} items")
    if "pattern" in meta:
        import re

        if not re.search(meta["pattern"], value):
            raise ParseError(path, "format invalide", "invalid format")


def _escape(key: str) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def to_json(value: Any) -> Any:
    """A dataclass tree as plain JSON values (``dataclasses.asdict`` without copying twice)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value
