"""agent.redact on adversarial strings: what a log line may hold that must not leave the workstation."""

from __future__ import annotations

import json
import time

import pytest

from agent.redact import EMAIL, MASK, PRIVATE_KEY, is_secret_key, redact, redact_data, strip_private_keys

HOME = "/home/jean"
TOKEN = "tok_4f9a8b7c6d5e"
KEY_BODY = ("MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n"
            "MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\n"
            "NMoSfm76oqFvAp8Gy0iz5sxjZmSnXyCdPEovGhLa0VzMaQ8s+CLOyS56YyCFGeJZ\n")


def _pem(kind: str = "PRIVATE KEY", newline: str = "\n") -> str:
    body = KEY_BODY.replace("\n", newline)
    return f"-----BEGIN {kind}-----{newline}{body}-----END {kind}-----"


@pytest.mark.parametrize("text", [
    f"Authorization: Bearer {TOKEN}",
    f"authorization:bearer {TOKEN}",
    f'{{"Authorization": "Bearer {TOKEN}"}}',
    f"{{'authorization': 'Bearer {TOKEN}'}}",
    f"AUTHORIZATION = Basic {TOKEN}",
    f"Proxy-Authorization: Negotiate {TOKEN}",
    f"headers={{'Authorization': 'Token {TOKEN}', 'Accept': '*/*'}}",
    f"sent bearer {TOKEN} to the platform",
    f"GET https://marches.example.fr/plis?token={TOKEN}&page=2",
    f"GET /api?consultation=12&access_token={TOKEN}#top",
    f"redirect=https%3A%2F%2Fx.example%2F%3Ftoken%3D{TOKEN}%26a%3Db",
    f'{{"token":"{TOKEN}"}}',
    f'{{"token" : "{TOKEN}\\"suite"}}',
    f'{{"jeton": "{TOKEN}", "x": 1}}',
    f"{{'refresh_token': '{TOKEN}'}}",
    f"X-Auth-Token: {TOKEN}",
    f"client_secret={TOKEN}",
    f"api-key: {TOKEN}",
    f"Cookie: session={TOKEN}; other={TOKEN}",
    f"https://jean:{TOKEN}@intranet.example/plis",
    f"jwt eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJqZWFuIn0.{TOKEN}",
])
def test_tokens_and_credentials_are_removed(text: str) -> None:
    cleaned = redact(text, HOME)
    assert TOKEN not in cleaned, cleaned
    assert MASK in cleaned


@pytest.mark.parametrize("text", [
    "pin=482916", "PIN: 482916", '"pin": 482916', "{'pin': '482916'}", "code PIN 482916 refusé",
    "Code PIN : 482916", "password=482916", "Mot de passe : 482916", "passphrase '482916'",
    "user_pin=482916&slot=1", "mot_de_passe=482916",
])
def test_pins_and_passwords_are_removed(text: str) -> None:
    assert "482916" not in redact(text, HOME)


@pytest.mark.parametrize("pem", [
    _pem(), _pem("RSA PRIVATE KEY"), _pem("EC PRIVATE KEY"), _pem("ENCRYPTED PRIVATE KEY"),
    _pem("OPENSSH PRIVATE KEY"), _pem(newline="\r\n"), _pem(newline="\\n"),
    "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n"
    "DEK-Info: AES-256-CBC,9F8E7D6C5B4A39281706F5E4D3C2B1A0\n\n" + KEY_BODY + "-----END RSA PRIVATE KEY-----",
])
def test_private_key_blocks_are_removed(pem: str) -> None:
    for text in (pem, f"2026-11-23 ERROR agent: bad key {pem} (ignored)", json.dumps({"key": pem})):
        cleaned = redact(text, HOME)
        assert "MIIEvQIBADAN" not in cleaned and "Gy0iz5sxjZmSnXyCd" not in cleaned, cleaned
        assert PRIVATE_KEY in cleaned


def test_a_key_cut_in_half_is_removed_from_either_side() -> None:
    pem = _pem()
    tail = pem[len(pem) // 2:] + "\n2026-11-23 INFO next line"  # a log tail starting inside a key
    cleaned = strip_private_keys(tail)
    assert "Gy0iz5sxjZmSnXyCd" not in cleaned and "END PRIVATE KEY" not in cleaned
    assert cleaned.endswith("INFO next line")
    head = "before: " + pem[: len(pem) // 2]  # a log cut inside a key
    cleaned = strip_private_keys(head)
    assert "MIIEvQIBADAN" not in cleaned and cleaned.startswith("before: ")


def test_two_keys_and_a_certificate_between_them() -> None:
    certificate = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ\n-----END CERTIFICATE-----"
    text = f"{_pem()}\n{certificate}\n{_pem('EC PRIVATE KEY')}"
    cleaned = redact(text, HOME)
    assert cleaned.count(PRIVATE_KEY) == 2 and certificate in cleaned  # a certificate is public


@pytest.mark.parametrize("email", [
    "jean.dupont@exemple.fr", "Jean.Dupont+marches@sous.exemple.gouv.fr", "JEAN@EXEMPLE.FR",
    "jean%40exemple.fr", "émile@exemple.fr",
])
def test_email_addresses_are_removed(email: str) -> None:
    for text in (email, f"mailto:{email}", f"E={email},CN=Jean DUPONT", f"<{email}>", f'"{email}"'):
        cleaned = redact(text, HOME)
        assert email.split("@")[0].split("%")[0] not in cleaned or EMAIL in cleaned
        assert email not in cleaned and EMAIL in cleaned


def test_the_home_folder_becomes_a_tilde_and_only_it() -> None:
    text = "open /home/jean/Documents/offre.pdf; file:///home/jean/x; /home/jeanne/y; /home/jean"
    assert redact(text, HOME) == "open ~/Documents/offre.pdf; file://~/x; /home/jeanne/y; ~"
    windows = json.dumps("C:\\Users\\jean\\Documents\\offre.pdf")  # escaped backslashes in JSON
    assert "jean" not in redact(windows, "C:\\Users\\jean")
    assert redact("a / b", "/") == "a / b"  # a root "home" never eats every slash


def test_ordinary_lines_are_left_alone() -> None:
    lines = [
        "2026-11-23 15:30:00,123 INFO agent.service: Compagnon 0.1.0 listening on ws://127.0.0.1:47230/bridge",
        "job 3f2a9c0d1e4b5a6978877665544332211 (sign) queued for https://marches.example.fr",
        "SHA-256 " + "ab" * 32,
        "refused GET /bridge from https://evil.example (Origin not allowed)",
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
    ]
    for line in lines:
        assert redact(line, HOME) == line


def test_redaction_is_idempotent() -> None:
    text = f"Authorization: Bearer {TOKEN} jean@exemple.fr /home/jean/x {_pem()} pin=1234"
    once = redact(text, HOME)
    assert redact(once, HOME) == once


def test_hostile_input_takes_linear_time() -> None:
    hostile = [
        "-----BEGIN PRIVATE KEY-----" * 20_000,
        "A" * 1_000_000 + "-----END PRIVATE KEY-----",
        "x@" * 200_000,
        "token=" * 100_000,
        "a" * 500_000 + "@" + "b." * 100_000,
        "\\n" * 300_000 + "-----END RSA PRIVATE KEY-----",
        "authorization: " * 50_000,
    ]
    for text in hostile:
        start = time.monotonic()
        redact(text, HOME)
        assert time.monotonic() - start < 20, text[:40]  # quadratic would take hours, not seconds


def test_structured_data_masks_secret_keys_only() -> None:
    data = {"tokens": [{"label": "Compagnon Test", "token_label": "x"}], "tsa_password": "p", "accessToken": "t",
            "pin_status": {"locked": False}, "pin": None, "paths": ["/home/jean/a"],
            "message": f"Bearer {TOKEN}"}
    cleaned = redact_data(data, HOME)
    assert cleaned["tokens"] == [{"label": "Compagnon Test", "token_label": "x"}]
    assert cleaned["tsa_password"] == MASK and cleaned["accessToken"] == MASK
    assert cleaned["pin_status"] == {"locked": False} and cleaned["pin"] is None
    assert cleaned["paths"] == ["~/a"] and TOKEN not in cleaned["message"]
    assert [is_secret_key(k) for k in ("token", "client_secret", "apiKey", "tokens", "token_label", "pin_status")] == \
        [True, True, True, False, False, False]
