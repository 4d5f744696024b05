"""Removing secrets and personal data from text that leaves the workstation (the diagnostic bundle).

``redact(text)`` removes, in this order:

* PEM private key blocks (``-----BEGIN … PRIVATE KEY-----`` … ``END``), also when only one end
  survived (a log cut in the middle of a key) or the newlines are escaped (``\\n`` in a repr);
* the home folder, replaced by ``~`` (``/home/jean/x`` -> ``~/x``; ``/home/jeanne`` is left);
* credentials in URLs (``https://user:pass@host`` -> ``https://***@host``), ``Cookie:`` headers,
  ``Authorization: Bearer|Basic …`` headers, any ``Bearer …`` and JSON Web Tokens;
* values of secret-looking names in ``name=value`` (also ``name%3Dvalue``), ``name: value``,
  ``"name": "value"`` and ``'name': 'value'`` forms (``token``, ``access_token``, ``pin``, ``password``, ``secret``,
  ``api_key``, ``mot_de_passe``, … anywhere in the name), ``PIN 1234`` and ``passphrase 'xyz'``;
* e-mail addresses (also ``%40``-encoded), replaced by ``[courriel]``.

Everything is linear in the text's length (no pattern with nested unbounded repetition over the
same characters), so a hostile log line cannot stall the command. ``redact_data`` applies the
same to a JSON-like value and masks the values of secret-looking keys.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

MASK = "***"
PRIVATE_KEY = "[clé privée retirée]"
EMAIL = "[courriel]"

_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY[A-Z0-9 ]{0,40}-----")
_END = re.compile(r"-----END [A-Z0-9 ]{0,40}PRIVATE KEY[A-Z0-9 ]{0,40}-----")
#: What a key's body is made of: base64, whitespace and escaped newlines (``\n`` in a repr).
_BODY = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/= \t\r\n\\")
#: RFC 1421 headers of an encrypted PEM key, right after its BEGIN line.
_PEM_HEADERS = re.compile(r"(?:(?:\s|\\[rn])*(?:Proc-Type|DEK-Info):[^\n\\]{0,200})+")

_SECRET_WORDS = (r"token|jeton|pin|passwd|password|passphrase|pwd|mot[_ -]?de[_ -]?passe|secret|"
                 r"api[_-]?key|apikey|session[_-]?id|private[_-]?key|credential")
#: A JSON key holding a secret: one ending with one of the words (``token``, ``access_token``,
#: ``clientSecret``), but not ``tokens`` nor ``token_label``.
_SECRET_KEY = re.compile(rf"(?:^|[_.\-])(?:{_SECRET_WORDS})$")

_RULES: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    # URL credentials: scheme://user:password@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]{0,20}://)[^/\s:@\"']{1,200}:[^/\s@\"']{1,200}@"), r"\1***@"),
    # Cookie headers: everything after the name
    (re.compile(r"(?im)\b((?:set-)?cookie\s*:\s*)[^\r\n]+"), r"\1***"),
    # Authorization headers, whatever the scheme
    (re.compile(r"(?i)(\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?"
                r"(?:(?:bearer|basic|digest|negotiate|ntlm|token)\s+)?)[^\s\"',;}]+"), r"\1***"),
    # Bearer tokens anywhere
    (re.compile(r"(?i)\b(bearer\s+)[^\s\"',;}]+"), r"\1***"),
    # JSON Web Tokens
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), MASK),
)

_NAME_VALUE = re.compile(
    rf"(?i)(?<![\w.-])([\w.-]{{0,60}}?(?:{_SECRET_WORDS})[\w.-]{{0,60}}[\"']?\s*(?:[:=]|%3D|%3A)\s*)"
    r"(\"(?:[^\"\\\n]|\\.)*\"|'(?:[^'\\\n]|\\.)*'|[^\s\"',;&}<>)\]]+)"
)
#: ``PIN 1234``, ``passphrase 'xyz'``: a secret word then, without separator, digits or a quoted text.
_WORD_THEN_SECRET = re.compile(r"(?i)\b((?:code\s+)?(?:pin|password|passphrase|mot\s+de\s+passe)\s+)"
                               r"(\d{4,12}\b|\"[^\"\n]{1,200}\"|'[^'\n]{1,200}')")
_EMAIL = re.compile(r"(?i)(?<![\w.%+-])[\w.%+-]{1,64}(?:@|%40)(?:[\w-]{1,63}\.){1,8}[a-z]{2,24}\b")
_KEEP_VALUES = frozenset({"null", "true", "false", "none", MASK})


def _walk(text: str, index: int, step: int) -> int:
    """From ``index``, the first position (going by ``step``) whose character is not key body."""
    while 0 <= index < len(text) and text[index] in _BODY:
        index += step
    return index


def strip_private_keys(text: str) -> str:
    """``text`` with every PEM private key replaced by ``[clé privée retirée]``."""
    if "PRIVATE KEY" not in text:
        return text
    begins = [(m.start(), m.end()) for m in _BEGIN.finditer(text)]
    ends = [(m.start(), m.end()) for m in _END.finditer(text)]
    out: list[str] = []
    position, j = 0, 0
    for i, (start, after) in enumerate(begins):
        if start < position:
            continue
        while j < len(ends) and ends[j][0] < after:
            j += 1
        following = begins[i + 1][0] if i + 1 < len(begins) else len(text)
        if j < len(ends) and ends[j][0] < following:
            stop = ends[j][1]
            j += 1
        else:  # no END before the next key: drop what looks like this key's body
            headers = _PEM_HEADERS.match(text, after)
            stop = _walk(text, headers.end() if headers else after, 1)
        out += [text[position:start], PRIVATE_KEY]
        position = stop
    out.append(text[position:])
    text = "".join(out)
    # An END whose BEGIN was cut off (the first lines of a log tail): drop the body before it.
    out, position = [], 0
    for match in _END.finditer(text):
        start = max(_walk(text, match.start() - 1, -1) + 1, position)
        out += [text[position:start], PRIVATE_KEY]
        position = match.end()
    out.append(text[position:])
    return "".join(out)


def _home_pattern(home: str | os.PathLike[str] | None) -> re.Pattern[str] | None:
    home = str(home if home is not None else Path.home())
    if len(home.strip("/\\")) < 2:
        return None
    variants = {home, os.path.realpath(home), home.replace("\\", "/"), home.replace("\\", "\\\\")}
    variants = {v.rstrip("/\\") for v in variants if len(v.strip("/\\")) >= 2}
    alternatives = "|".join(re.escape(v) for v in sorted(variants, key=len, reverse=True))
    return re.compile(rf"(?:{alternatives})(?![\w.-])", re.IGNORECASE if os.name == "nt" else 0)


def _mask_value(match: re.Match[str]) -> str:
    name, value = match.group(1), match.group(2)
    if value.lower() in _KEEP_VALUES:
        return match.group(0)
    quote = value[0] if value[0] in "\"'" else ""
    return f"{name}{quote}{MASK}{quote}"


def redact(text: str, home: str | os.PathLike[str] | None = None) -> str:
    """``text`` without private keys, credentials, tokens, e-mail addresses, nor the home path
    (``home``, by default the user's)."""
    text = strip_private_keys(text)
    pattern = _home_pattern(home)
    if pattern is not None:
        text = pattern.sub("~", text)
    for rule, replacement in _RULES:
        text = rule.sub(replacement, text)
    text = _NAME_VALUE.sub(_mask_value, text)
    text = _WORD_THEN_SECRET.sub(_mask_value, text)
    return _EMAIL.sub(EMAIL, text)


def is_secret_key(key: str) -> bool:
    """Whether a JSON/TOML key names a secret (``token``, ``tsa_password``, ``apiKey``)."""
    return bool(_SECRET_KEY.search(re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key).lower()))


def _is_secret_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bytes)) and not isinstance(value, bool) and value != ""


def redact_data(value: Any, home: str | os.PathLike[str] | None = None) -> Any:
    """A JSON-like value with secret keys' scalar values masked (``is_secret_key``) and every
    string redacted (``redact``). Keys are kept: structured data needs no guessing from
    ``name=value``. A secret key holding an object or a list (``"token": {"label": …}``, a
    PKCS#11 token's description) is redacted member by member, not hidden."""
    if isinstance(value, dict):
        return {
            str(k): MASK if is_secret_key(str(k)) and _is_secret_scalar(value[k]) else redact_data(value[k], home)
            for k in value
        }
    if isinstance(value, (list, tuple)):
        return [redact_data(v, home) for v in value]
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, str):
        return redact(value, home)
    return value
