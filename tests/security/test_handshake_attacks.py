"""docs/SECURITY.md promise 2 under attack: well over a hundred forged WebSocket handshakes.

Every request is written by hand on a raw socket, so that nothing (a client library's
normalisation, its refusal to send odd bytes) stands between the attack and the agent. The agent
allows exactly ``https://marches.example.fr`` and ``https://plateforme.example:8443``.

What the agent SHOULD accept, and why (``test_exact_origins_and_loopback_hosts_upgrade``):

* an ``Origin`` equal, byte for byte, to a configured origin in its RFC 6454 serialisation
  (lower-case scheme and host, no default port, no path): that is what browsers send;
* optional whitespace around a field value (``Origin:   https://marches.example.fr  ``): RFC 9110
  section 5.5 says it is not part of the value, so it is the same header;
* ``Host`` ``127.0.0.1:PORT``, ``localhost:PORT`` or ``[::1]:PORT`` (host names are case-insensitive,
  so ``LOCALHOST:PORT`` too).

Everything else is refused before any upgrade. Upper-case variants of the configured origin
(``HTTPS://MARCHES.EXAMPLE.FR``) are refused on purpose: RFC 6454 section 6.2 serialises scheme and
host in lower case and browsers always send that form, so only a forged request sends another;
refusing it costs nothing. A refused request gets HTTP 403 from the guards; a request the HTTP
parser cannot read (NUL, bare CR, obsolete line folding, duplicate ``Host``) gets 400 from it.
"""

from __future__ import annotations

import base64
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.agent_process import AgentProcess, free_port, write_config

ALLOWED = "https://marches.example.fr"
ALLOWED_PORT = "https://plateforme.example:8443"
EVIL = "https://evil.com"

Header = tuple[str, str | bytes]


@dataclass(frozen=True)
class Attempt:
    """One forged handshake: its headers (in order; repeats allowed) and request target."""

    label: str
    headers: tuple[Header, ...]
    target: str = "/bridge"
    version: str = "HTTP/1.1"
    #: The HTTP parser itself may refuse it (400) before the guards (403).
    malformed: bool = False


@dataclass(frozen=True)
class Answer:
    status: int
    head: bytes

    @property
    def upgraded(self) -> bool:
        return self.status == 101 or b"sec-websocket-accept" in self.head.lower()


def _request(attempt: Attempt) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [f"GET {attempt.target} {attempt.version}".encode()]
    for name, value in attempt.headers:
        lines.append(name.encode() + b": " + (value if isinstance(value, bytes) else value.encode("utf-8")))
    lines += [b"Connection: Upgrade", b"Upgrade: websocket", b"Sec-WebSocket-Version: 13",
              f"Sec-WebSocket-Key: {key}".encode()]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def send(port: int, attempt: Attempt) -> Answer:
    """Send ``attempt`` on a fresh connection; the status and head of the answer (0 if none)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(_request(attempt))
        head = b""
        while b"\r\n\r\n" not in head:
            try:
                chunk = sock.recv(4096)
            except TimeoutError:
                break
            if not chunk:
                break
            head += chunk
    status_line = head.split(b"\r\n", 1)[0].split()
    status = int(status_line[1]) if len(status_line) >= 2 and status_line[1].isdigit() else 0
    return Answer(status, head.split(b"\r\n\r\n", 1)[0])


@pytest.fixture
def guarded(home: Path) -> Iterator[AgentProcess]:
    write_config(home, allowed=[ALLOWED, ALLOWED_PORT], consent="deny",
                 extra='\n[paths]\nlog_dir = "' + str(home / ".local/state/compagnon/log") + '"\n')
    agent = AgentProcess(home, free_port()).start()
    yield agent
    agent.stop()


def host(port: int) -> Header:
    return ("Host", f"127.0.0.1:{port}")


def origin_attempts(port: int) -> list[Attempt]:
    """Forged, missing, opaque and look-alike ``Origin`` headers, each with a correct ``Host``."""
    cyrillic_a = "m\u0430rches.example.fr"  # Cyrillic а: looks like "marches"
    cyrillic_e = "marches.\u0435xample.fr"  # Cyrillic е in "example"
    values: list[str | bytes] = [
        # Opaque, empty, foreign.
        "null", "NULL", "Null", "", " ", EVIL, "https://evil.example", "http://evil.com",
        "https://attacker.marches.example.fr.evil.com",
        # Suffix and prefix tricks.
        "https://marches.example.fr.evil.com", "https://marches.example.fr.evil.com:443",
        "https://evil-marches.example.fr", "https://evilmarches.example.fr", "https://marches-example.fr",
        "https://marches.example.fr-evil.com", "https://marchesexample.fr", "https://marches.example.frr",
        "https://arches.example.fr", "https://example.fr", "https://www.marches.example.fr",
        "https://sub.marches.example.fr", "https://marches.example", "https://marches.example.fr.fr",
        # Userinfo.
        "https://marches.example.fr@evil.com", "https://evil.com@marches.example.fr",
        "https://user@marches.example.fr", "https://user:pass@marches.example.fr",
        "https://marches.example.fr:443@evil.com", "https://marches.example.fr%40evil.com",
        # Ports.
        "https://marches.example.fr:443", "https://marches.example.fr:8443", "https://marches.example.fr:80",
        "https://marches.example.fr:", "https://marches.example.fr:0443", "https://marches.example.fr:65536",
        # Other schemes or no scheme.
        "http://marches.example.fr", "ws://marches.example.fr", "wss://marches.example.fr",
        "ftp://marches.example.fr", "file://marches.example.fr", "file://", "blob:https://marches.example.fr",
        "chrome-extension://marches.example.fr", "moz-extension://marches.example.fr", "https:marches.example.fr",
        "https:/marches.example.fr", "https:///marches.example.fr", "//marches.example.fr", "marches.example.fr",
        "https//marches.example.fr", "javascript://marches.example.fr",
        # Trailing dot, slash, path, query, fragment, escapes.
        "https://marches.example.fr.", "https://marches.example.fr./", "https://marches.example.fr/",
        "https://marches.example.fr//", "https://marches.example.fr/bridge", "https://marches.example.fr/?",
        "https://marches.example.fr?x=1", "https://marches.example.fr#frag", "https://marches.example.fr\\",
        "https://marches.example.fr\\@evil.com", "https://marches.example.fr;", "https://marches.example.fr%2F",
        "https://marches%2Eexample.fr", "https://marches.example.fr%00.evil.com", "https://marches.example.fr..",
        # Case: RFC 6454 serialisation is lower case; browsers never send anything else.
        "HTTPS://marches.example.fr", "Https://marches.example.fr", "https://MARCHES.EXAMPLE.FR",
        "https://Marches.example.fr", "https://marches.example.FR", "HTTPS://MARCHES.EXAMPLE.FR",
        # IDN homographs, raw and in punycode.
        f"https://{cyrillic_a}", "https://" + cyrillic_a.encode("idna").decode(),
        f"https://{cyrillic_e}", "https://" + cyrillic_e.encode("idna").decode(),
        "https://m\u00e4rches.example.fr", "https://" + "m\u00e4rches.example.fr".encode("idna").decode(),
        "https://\uff4darches.example.fr",  # fullwidth m
        # Whitespace inside the value (around it, it is not part of the value: accepted, see above).
        "https:// marches.example.fr", "https://marches .example.fr", "https://marches.example.fr /",
        "https://marches.example.fr\tx", "https://marches.example.fr https://marches.example.fr",
        "https://marches.example.fr\u00a0", "\u00a0https://marches.example.fr", "https://marches.example.fr\u200b",
        "https://marches\u200b.example.fr", "https://marches.example.fr\u3000", "https://marches.example.fr\u2028",
        # Lists.
        "https://marches.example.fr, https://evil.com", "https://evil.com, https://marches.example.fr",
        "https://marches.example.fr,https://marches.example.fr", "https://marches.example.fr null",
        # The second configured origin, which has an explicit port.
        "https://plateforme.example", "https://plateforme.example:443", "https://plateforme.example:8444",
        "https://plateforme.example:08443", "http://plateforme.example:8443", "https://plateforme.example:8443/",
        "https://plateforme.example.:8443", "https://PLATEFORME.example:8443", "https://plateforme.example:8443.",
        # The agent itself and other loopback origins (a page served from a local port).
        "http://127.0.0.1", f"http://127.0.0.1:{port}", f"http://localhost:{port}", "http://[::1]",
        "http://localhost", f"ws://127.0.0.1:{port}",
        # Latin-1 bytes (not UTF-8) that a lax decoder could turn into the allowed origin.
        b"https://marches.example.fr\xa0", b"https://m\xe4rches.example.fr",
    ]
    attempts = [Attempt(f"Origin {v!r}", (host(port), ("Origin", v))) for v in values]
    attempts += [
        Attempt("no Origin", (host(port),)),
        Attempt("only the old Sec-WebSocket-Origin", (host(port), ("Sec-WebSocket-Origin", ALLOWED))),
        Attempt("Origin twice: allowed then foreign", (host(port), ("Origin", ALLOWED), ("Origin", EVIL))),
        Attempt("Origin twice: foreign then allowed", (host(port), ("Origin", EVIL), ("Origin", ALLOWED))),
        Attempt("Origin twice: allowed twice", (host(port), ("Origin", ALLOWED), ("Origin", ALLOWED))),
        Attempt("Origin twice: allowed then null", (host(port), ("Origin", ALLOWED), ("Origin", "null"))),
        Attempt("Origin twice, other case: allowed then foreign", (host(port), ("Origin", ALLOWED), ("origin", EVIL))),
        # What the HTTP parser must refuse itself (or the guards, should the parser let it through).
        Attempt("Origin with NUL", (host(port), ("Origin", b"https://marches.example.fr\x00")), malformed=True),
        Attempt("Origin with NUL then evil", (host(port), ("Origin", b"https://marches.example.fr\x00.evil.com")),
                malformed=True),
        Attempt("Origin with bare CR", (host(port), ("Origin", b"https://marches.example.fr\r")), malformed=True),
        Attempt("Origin with form feed", (host(port), ("Origin", b"https://marches.example.fr\x0c")), malformed=True),
        Attempt("Origin with vertical tab", (host(port), ("Origin", b"https://marches.example.fr\x0b")),
                malformed=True),
        Attempt("Origin folded (obs-fold) after a foreign value",
                (host(port), ("Origin", b"https://evil.com\r\n https://marches.example.fr")), malformed=True),
        Attempt("Origin folded (obs-fold) after the allowed value",
                (host(port), ("Origin", b"https://marches.example.fr\r\n .evil.com")), malformed=True),
        Attempt("Origin with invalid UTF-8", (host(port), ("Origin", b"https://marches.example.fr\xff")),
                malformed=True),
        Attempt("Origin name with a space before the colon", (host(port), ("Origin ", ALLOWED)), malformed=True),
    ]
    return attempts


def host_attempts(port: int) -> list[Attempt]:
    """Non-loopback, rebinding and malformed ``Host`` headers, each with the allowed ``Origin``."""
    p = port
    values = [
        f"evil.com:{p}", "evil.com", f"127.0.0.1.nip.io:{p}", f"localhost.evil.com:{p}", f"127.0.0.1.evil.com:{p}",
        f"0.0.0.0:{p}", "0.0.0.0", f"127.0.0.2:{p}", f"127.1.2.3:{p}", f"[::ffff:127.0.0.1]:{p}",
        f"[::ffff:7f00:1]:{p}", f"[0:0:0:0:0:0:0:1]:{p}", f"[::]:{p}", f"[::1%25lo]:{p}", f"::1:{p}", f"[::1:{p}]",
        # Missing or wrong port.
        "127.0.0.1", "localhost", "[::1]", f"127.0.0.1:{p + 1}", f"127.0.0.1:{p - 1}", "127.0.0.1:80",
        f"localhost:{p + 1}", f"[::1]:{p + 1}", f"127.0.0.1:0{p}", f"127.0.0.1:{p}0", f"127.0.0.1:+{p}",
        "127.0.0.1:", f"localhost:{p}:{p}",
        # Other spellings of loopback (only the three literals are accepted).
        f"127.0.0.1.:{p}", f"localhost.:{p}", f"127.1:{p}", f"2130706433:{p}", f"0x7f000001:{p}",
        f"0177.0.0.1:{p}", f"127.000.000.001:{p}", f"l0calhost:{p}", f"lo\u0441alhost:{p}",
        "xn--lcalhost-9qf:" + str(p), f"localhost%00:{p}", f"127.0.0.1%2e:{p}",
        # Userinfo, paths, lists, schemes inside Host.
        f"127.0.0.1:{p}.evil.com", f"127.0.0.1:{p}@evil.com", f"evil.com@127.0.0.1:{p}", f"user@127.0.0.1:{p}",
        f"127.0.0.1:{p}/", f"127.0.0.1:{p}/bridge", f"127.0.0.1:{p}, evil.com", f"127.0.0.1:{p} evil.com",
        f"127.0.0.1 :{p}", f"http://127.0.0.1:{p}", f"ws://127.0.0.1:{p}", "", "*",
    ]
    attempts = [Attempt(f"Host {v!r}", (("Host", v), ("Origin", ALLOWED))) for v in values]
    ok_host = ("Host", f"127.0.0.1:{p}")
    attempts += [
        # RFC 9112 section 3.2: an HTTP/1.1 request without Host is a 400 for the parser itself.
        Attempt("no Host (HTTP/1.1)", (("Origin", ALLOWED),), malformed=True),
        Attempt("no Host (HTTP/1.0)", (("Origin", ALLOWED),), version="HTTP/1.0"),
        Attempt("absolute-form target to evil.com", (ok_host, ("Origin", ALLOWED)),
                target=f"http://evil.com:{p}/bridge"),
        Attempt("absolute-form target to a rebinding name", (ok_host, ("Origin", ALLOWED)),
                target=f"http://127.0.0.1.nip.io:{p}/bridge"),
        Attempt("absolute-form target with userinfo", (ok_host, ("Origin", ALLOWED)),
                target=f"http://evil.com@127.0.0.1:{p}/bridge"),
        Attempt("absolute-form target on another port", (ok_host, ("Origin", ALLOWED)),
                target=f"http://127.0.0.1:{p + 1}/bridge"),
        Attempt("absolute-form target, https scheme", (ok_host, ("Origin", ALLOWED)),
                target=f"https://evil.com:{p}/bridge"),
        Attempt("absolute-form loopback target but foreign Host", (("Host", "evil.com"), ("Origin", ALLOWED)),
                target=f"http://127.0.0.1:{p}/bridge"),
        Attempt("Host twice: loopback then foreign", (ok_host, ("Host", "evil.com"), ("Origin", ALLOWED)),
                malformed=True),
        Attempt("Host twice: foreign then loopback", (("Host", "evil.com"), ok_host, ("Origin", ALLOWED)),
                malformed=True),
        Attempt("Host with NUL", (("Host", f"127.0.0.1:{p}\x00.evil.com".encode()), ("Origin", ALLOWED)),
                malformed=True),
        Attempt("Host with form feed", (("Host", f"127.0.0.1:{p}\x0c".encode()), ("Origin", ALLOWED)), malformed=True),
        Attempt("Host folded (obs-fold)", (("Host", f"evil.com\r\n 127.0.0.1:{p}".encode()), ("Origin", ALLOWED)),
                malformed=True),
        Attempt("foreign Host and foreign Origin", (("Host", f"evil.com:{p}"), ("Origin", EVIL))),
    ]
    return attempts


def _refused_properly(attempt: Attempt, answer: Answer) -> bool:
    expected = {400, 403} if attempt.malformed else {403}
    return not answer.upgraded and answer.status in expected


def _check_all(agent: AgentProcess, attempts: list[Attempt]) -> None:
    accepted: list[str] = []
    wrong: list[str] = []
    for attempt in attempts:
        answer = send(agent.port, attempt)
        if answer.upgraded:
            accepted.append(attempt.label)
        elif not _refused_properly(attempt, answer):
            wrong.append(f"{attempt.label}: HTTP {answer.status}")
    assert not accepted, f"{len(accepted)} forged handshake(s) got a WebSocket upgrade:\n" + "\n".join(accepted)
    assert not wrong, "refused, but not with the guards' 403 (or the parser's 400):\n" + "\n".join(wrong)
    # The agent still serves the real page afterwards (the refusals did not break it).
    ok = send(agent.port, Attempt("allowed", (host(agent.port), ("Origin", ALLOWED))))
    assert ok.status == 101


def test_exact_origins_and_loopback_hosts_upgrade(guarded: AgentProcess) -> None:
    """The positive controls: without them a broken agent would 'refuse' everything and pass."""
    p = guarded.port
    accepted = [
        Attempt(f"{o} via {h}", (("Host", h), ("Origin", o)))
        for o in (ALLOWED, ALLOWED_PORT)
        for h in (f"127.0.0.1:{p}", f"localhost:{p}", f"[::1]:{p}", f"LOCALHOST:{p}")
    ]
    accepted += [
        Attempt("whitespace around the value", (host(p), ("Origin", f"  {ALLOWED}\t "))),
        Attempt("lower-case field names", (("host", f"127.0.0.1:{p}"), ("origin", ALLOWED))),
        Attempt("HTTP/1.0 with Host", (host(p), ("Origin", ALLOWED)), version="HTTP/1.0"),
        Attempt("absolute-form target naming the loopback", (host(p), ("Origin", ALLOWED)),
                target=f"http://127.0.0.1:{p}/bridge"),
    ]
    refused = [a.label for a in accepted if not send(p, a).upgraded]
    assert not refused, "legitimate handshakes refused:\n" + "\n".join(refused)


def test_forged_origins_never_upgrade(guarded: AgentProcess) -> None:
    attempts = origin_attempts(guarded.port)
    assert len(attempts) >= 100
    _check_all(guarded, attempts)
    # Each refusal by the guards is in the agent's log, with its reason.
    log = guarded.log_file.read_text(encoding="utf-8")
    for reason in ("missing Origin", "opaque Origin", "Origin not allowed", "several Origin headers"):
        assert f": {reason} (Origin=" in log, reason


def test_rebinding_and_non_loopback_hosts_never_upgrade(guarded: AgentProcess) -> None:
    attempts = host_attempts(guarded.port)
    assert len(attempts) >= 50
    _check_all(guarded, attempts)
    log = guarded.log_file.read_text(encoding="utf-8")
    assert "Host is not a loopback literal with the agent's port" in log
    assert "request target is not a loopback literal with the agent's port" in log


def test_total_attempts_exceed_one_hundred_and_fifty() -> None:
    """The campaign's size is part of the promise's test: it must not shrink silently."""
    assert len(origin_attempts(47230)) + len(host_attempts(47230)) >= 150


def test_refusals_leak_nothing(guarded: AgentProcess) -> None:
    """A refused handshake's answer says 'Forbidden' (or the parser's 'Bad Request') and no more."""
    for attempt in (origin_attempts(guarded.port)[:5] + host_attempts(guarded.port)[-6:]):
        with socket.create_connection(("127.0.0.1", guarded.port), timeout=10) as sock:
            sock.sendall(_request(attempt))
            sock.shutdown(socket.SHUT_WR)
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        for marker in (b"Traceback", b'File "', b"/work", b"site-packages", str(guarded.home).encode(), b"Error:"):
            assert marker not in data, (attempt.label, data[:500])
