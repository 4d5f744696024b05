"""``diagnose``: "Tester la configuration de mon poste".

One step per prerequisite, each judged pass / warn / fail with a French (or English) message, as
on the reference platform's "Test de la configuration utilisateur" screen: operating system,
the agent, its environment, certificate stores, the browser, communication with the platform,
the clock against the platform's ``Date`` header (RFC 9110 section 6.6.1), and the listening port.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import platform
import re
import socket
import sys
import time
from dataclasses import dataclass
from typing import Any
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from bridge_protocol.errors import ProtocolError
from bridge_protocol.kinds import CheckStatus, DiagnoseCheck, DiagnoseParams, DiagnoseResult
from bridge_protocol.messages import ALL_PORTS

from .. import __version__
from ..errors import ReportedError
from ..i18n import Text
from ..jobs.context import JobContext
from ..keystores.pkcs11_modules import check_module, find_modules
from . import JobKind, StepSpec

T = Text

LABELS = {
    "os": T("Système d'exploitation", "Operating system"),
    "agent": T("Compagnon", "Compagnon"),
    "runtime": T("Version de l'environnement présent", "Runtime environment"),
    "keystores": T("Accès au magasin de certificats", "Certificate store access"),
    "browser": T("Version du navigateur Web", "Web browser version"),
    "platform": T("Communication avec le serveur distant", "Communication with the server"),
    "clock": T("Horloge du poste", "Workstation clock"),
    "port": T("Port d'écoute de Compagnon", "Compagnon listening port"),
}

#: Oldest browser versions the platform pages and the loopback WebSocket are tested with.
MIN_BROWSERS = {"Chrome": 109, "Edge": 109, "Opera": 95, "Firefox": 115, "Safari": 15}
#: Clock skew limits in seconds: beyond the first a warning, beyond the second a failure
#: (signing times and timestamps would be visibly wrong).
CLOCK_WARN, CLOCK_FAIL = 60, 300
#: Minimum cryptography release (docs/ARCHITECTURE.md, known pitfalls: older ones have a Bleichenbacher oracle).
MIN_CRYPTOGRAPHY = 50


@dataclass
class _Outcome:
    status: CheckStatus
    value: str
    message: str


def _os_check(locale: str) -> _Outcome:
    system = platform.system()
    if system == "Linux":
        try:
            name = platform.freedesktop_os_release().get("PRETTY_NAME", "Linux")
        except OSError:
            name = "Linux"
        value = f"{name} (noyau {platform.release()})" if locale != "en" else f"{name} (kernel {platform.release()})"
    elif system == "Windows":
        value = f"Windows {platform.release()} ({platform.version()})"
    elif system == "Darwin":
        value = f"macOS {platform.mac_ver()[0]}"
    else:
        return _Outcome("warn", system or "?", T("Système non pris en charge.", "Unsupported system.").render(locale))
    return _Outcome("pass", value, T("Système pris en charge.", "Supported system.").render(locale))


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _runtime_check(locale: str) -> _Outcome:
    libs = {name: _version(name) for name in ("aiohttp", "cryptography", "platformdirs")}
    value = f"Python {platform.python_version()}, " + ", ".join(
        f"{name} {v or '—'}" for name, v in libs.items()
    )
    missing = [name for name, v in libs.items() if v is None]
    if missing:
        return _Outcome(
            "fail", value, T("Bibliothèque absente : {libs}.", "Missing library: {libs}.").render(locale, libs=", ".join(missing))
        )
    crypto_major = int(re.match(r"\d+", libs["cryptography"] or "0").group())  # type: ignore[union-attr]
    if crypto_major < MIN_CRYPTOGRAPHY:
        return _Outcome(
            "fail",
            value,
            T(
                "cryptography {v} : la version {min} ou plus est requise.",
                "cryptography {v}: version {min} or later is required.",
            ).render(locale, v=libs["cryptography"], min=MIN_CRYPTOGRAPHY),
        )
    return _Outcome("pass", value, T("Environnement complet.", "Environment complete.").render(locale))


def _keystore_check(locale: str, keystores: Any = None, p12_dir: Path | None = None) -> _Outcome:
    """PKCS#11 modules found and loadable; the OS store where the system has one; and at least one
    certificate that can sign, else what to do to get one."""
    outcome = _store_check(locale)
    if keystores is None or outcome.status == "fail":
        return outcome
    try:
        signing = len(keystores.keys("signing"))
    except Exception:  # noqa: BLE001 — a driver failing here is the stores' check's business
        return outcome
    if signing == 0:
        return _Outcome("warn", outcome.value, T(
            "Aucun certificat de signature sur ce poste : branchez votre carte ou votre clé USB, ou placez votre "
            "fichier .p12 (avec son certificat .crt à côté) dans {folder}. Pour essayer sans certificat : "
            "« compagnon demo » fournit une identité de démonstration.",
            "No signing certificate on this workstation: plug in your card or USB token, or put your .p12 "
            "file (with its .crt certificate beside it) in {folder}. To try without one: \"compagnon demo\" "
            "provides a demo identity.").render(locale, folder=p12_dir or "—"))
    return _Outcome(outcome.status, outcome.value + T(" ; {n} certificat(s) de signature", "; {n} signing certificate(s)")
                    .render(locale, n=signing), outcome.message)


def _store_check(locale: str) -> _Outcome:
    """PKCS#11 modules found and loadable; the OS store where the system has one."""
    checks = [check_module(path) for path in find_modules()]
    loadable = [c.path.name for c in checks if c.loadable]
    broken = [c.path.name for c in checks if not c.loadable]
    parts = []
    if loadable:
        parts.append(T("PKCS#11 : {m}", "PKCS#11: {m}").render(locale, m=", ".join(loadable)))
    if sys.platform.startswith("win"):
        import ssl

        try:
            count = len(ssl.enum_certificates("MY"))  # type: ignore[attr-defined]
            parts.append(T("magasin Windows ({n} certificats)", "Windows store ({n} certificates)").render(locale, n=count))
        except OSError:
            broken.append("Windows MY")
    elif sys.platform == "darwin":
        parts.append(T("trousseau macOS", "macOS keychain").render(locale))
    if broken:
        return _Outcome(
            "warn",
            "; ".join(parts) or "—",
            T("Module illisible : {m}.", "Unloadable module: {m}.").render(locale, m=", ".join(broken)),
        )
    if not parts:
        return _Outcome(
            "warn",
            T("Aucun magasin trouvé", "No store found").render(locale),
            T(
                "Aucun pilote de carte à puce ou de clé USB (PKCS#11) n'est installé ; un certificat "
                "logiciel (fichier PKCS#12) reste utilisable.",
                "No smart card or USB token driver (PKCS#11) is installed; a software certificate "
                "(PKCS#12 file) can still be used.",
            ).render(locale),
        )
    return _Outcome("pass", "; ".join(parts), T("Magasin accessible.", "Store accessible.").render(locale))


_BROWSER_PATTERNS = (
    ("Edge", re.compile(r"\bEdg(?:e|A|iOS)?/(\d+)")),
    ("Opera", re.compile(r"\bOPR/(\d+)")),
    ("Firefox", re.compile(r"\bFirefox/(\d+)")),
    ("Chrome", re.compile(r"\b(?:Headless)?Chrom(?:e|ium)/(\d+)")),
    ("Safari", re.compile(r"\bVersion/(\d+)(?:\.\d+)*.*\bSafari/")),
)


def parse_user_agent(user_agent: str) -> tuple[str, int, str] | None:
    """(browser family, major version, display version) from a User-Agent string."""
    for family, pattern in _BROWSER_PATTERNS:
        match = pattern.search(user_agent)
        if match:
            full = re.search(re.escape(match.group(0).split("/")[0]) + r"/([\d.]+)", user_agent)
            return family, int(match.group(1)), full.group(1) if full else match.group(1)
    return None


def _browser_check(user_agent: str | None, locale: str, from_page: bool = True) -> _Outcome:
    if not user_agent and not from_page:
        return _Outcome(
            "pass",
            T("Sans objet (ligne de commande)", "Not applicable (command line)").render(locale),
            T("Le navigateur se vérifie depuis la page de la plateforme (« Tester la configuration de mon poste »).",
              "The browser is checked from the platform's page (\"Test my workstation\").").render(locale),
        )
    if not user_agent:
        return _Outcome(
            "warn",
            T("Non communiqué", "Not provided").render(locale),
            T("La page n'a pas indiqué le navigateur.", "The page did not tell the browser.").render(locale),
        )
    parsed = parse_user_agent(user_agent)
    if parsed is None:
        return _Outcome(
            "warn",
            T("Navigateur inconnu", "Unknown browser").render(locale),
            T("Navigateur non reconnu : il n'a pas été testé.", "Unrecognised browser: not tested.").render(locale),
        )
    family, major, display = parsed
    value = f"{family} {display}"
    minimum = MIN_BROWSERS[family]
    if major < minimum:
        return _Outcome(
            "fail",
            value,
            T("Version trop ancienne : {f} {m} ou plus est requis.", "Too old: {f} {m} or later is required.").render(
                locale, f=family, m=minimum
            ),
        )
    return _Outcome("pass", value, T("Navigateur pris en charge.", "Supported browser.").render(locale))


def running_agent_port(state_dir: Path) -> int | None:
    """The port of this user's running agent (``state_dir/agent.json``, written by the agent at
    start), if its process is alive and the port answers; else None."""
    try:
        info = json.loads((state_dir / "agent.json").read_text(encoding="utf-8"))
        pid, port = int(info["pid"]), int(info["port"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except (PermissionError, OSError):
        pass  # it exists (another user's process cannot be signalled), or the system has no signals
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
    except OSError:
        return None
    return port


def _port_check(port: int | None, locale: str) -> _Outcome:
    if port is None:
        return _Outcome("warn", "—", T("Compagnon n'est pas lancé : lancez « compagnon tray » (ou « compagnon serve ») "
                                       "pour que les pages le trouvent.",
                                       "Compagnon is not running: start \"compagnon tray\" (or \"compagnon serve\") "
                                       "so that pages find it.").render(locale))
    if port not in ALL_PORTS:
        return _Outcome(
            "warn",
            str(port),
            T(
                "Port hors de la plage 47230-47329 : les pages ne le trouveront pas d'elles-mêmes.",
                "Port outside 47230-47329: pages will not find it by themselves.",
            ).render(locale),
        )
    return _Outcome("pass", str(port), T("Port standard.", "Standard port.").render(locale))


class Diagnose(JobKind):
    name = "diagnose"
    params_type = DiagnoseParams
    steps = tuple(StepSpec(key, label) for key, label in LABELS.items())
    needs_pairing = True

    async def run(self, ctx: JobContext, params: DiagnoseParams) -> DiagnoseResult:
        locale = ctx.locale
        checks: list[DiagnoseCheck] = []
        order = list(LABELS)
        counter = T("vérification", "check").render(locale)

        def begin(step_id: str) -> None:
            ctx.set_current(counter, order.index(step_id) + 1, len(order))
            ctx.start_step(step_id)

        def record(step_id: str, outcome: _Outcome) -> None:
            checks.append(DiagnoseCheck(step_id, ctx.t(LABELS[step_id]), outcome.status, outcome.value, outcome.message))
            ctx.set_message(ctx.t(T("{label} : {value}", "{label}: {value}"), label=ctx.t(LABELS[step_id]),
                                  value=outcome.value))
            ctx.end_step(step_id, "failed" if outcome.status == "fail" else "succeeded")

        from_page = ctx.origin not in ("cli:", "console:")
        port = ctx.services.port if ctx.services.port is not None else await asyncio.to_thread(
            running_agent_port, ctx.services.settings.state_dir)
        installed = T("Installé (version {v})", "Installed (version {v})").render(locale, v=__version__)
        simple = {
            "os": lambda: _os_check(locale),
            "agent": lambda: _Outcome("pass", installed, T("Compagnon est lancé.", "Compagnon is running.").render(locale))
            if port is not None else _Outcome("warn", installed, T(
                "Compagnon est installé mais pas lancé.", "Compagnon is installed but not running.").render(locale)),
            "runtime": lambda: _runtime_check(locale),
        }
        for step_id, check in simple.items():
            begin(step_id)
            record(step_id, check())

        begin("keystores")
        try:
            outcome = await asyncio.wait_for(asyncio.to_thread(
                _keystore_check, locale, ctx.services.keystores, ctx.services.settings.p12_dir), 15)
        except TimeoutError:
            outcome = _Outcome("warn", "—", T("Un pilote PKCS#11 ne répond pas.", "A PKCS#11 driver does not answer.").render(locale))
        record("keystores", outcome)

        begin("browser")
        record("browser", _browser_check(params.user_agent, locale, from_page))

        begin("platform")
        server_date = await self._platform_check(ctx, record)
        begin("clock")
        if server_date is None:
            checks.append(DiagnoseCheck("clock", ctx.t(LABELS["clock"]), "warn", "—",
                                        T("Heure du serveur inconnue.", "Server time unknown.").render(locale)))
            ctx.end_step("clock", "skipped")
        else:
            record("clock", self._clock_outcome(server_date, locale))

        begin("port")
        record("port", _port_check(port, locale))

        worst: CheckStatus = "fail" if any(c.status == "fail" for c in checks) else (
            "warn" if any(c.status == "warn" for c in checks) else "pass"
        )
        verdict = {
            "pass": T(
                "La configuration de votre poste utilisateur respecte les prérequis techniques de la plateforme.",
                "Your workstation meets the platform's technical prerequisites.",
            ),
            "warn": T(
                "La configuration de votre poste respecte les prérequis, avec des points à vérifier.",
                "Your workstation meets the prerequisites, with points to check.",
            ),
            "fail": T(
                "La configuration de votre poste ne respecte pas les prérequis techniques de la plateforme.",
                "Your workstation does not meet the platform's technical prerequisites.",
            ),
        }[worst]
        ctx.set_message(ctx.t(verdict))
        return DiagnoseResult(checks=checks, status=worst, message=ctx.t(verdict))

    async def _platform_check(self, ctx: JobContext, record) -> tuple[datetime, float] | None:  # type: ignore[no-untyped-def]
        """GET the origin's root; returns the server's Date and the local time of the answer."""
        locale = ctx.locale
        if not ctx.origin.startswith(("http://", "https://")):
            record("platform", _Outcome("warn", T("Non testé", "Not tested").render(locale),
                                        T("Aucune plateforme indiquée.", "No platform given.").render(locale)))
            return None
        try:
            async with ctx.platform.request("GET", "/") as response:
                status, date_header = response.status, response.headers.get("Date")
                received = time.time()
        except (ProtocolError, ReportedError) as exc:
            record("platform", _Outcome("fail", T("Communication impossible", "No communication").render(locale), exc.message(locale)))
            return None
        if status >= 500:
            record("platform", _Outcome("warn", f"HTTP {status}",
                                        T("Le serveur répond en erreur.", "The server answers with an error.").render(locale)))
        else:
            record("platform", _Outcome("pass", T("Communication établie", "Communication established").render(locale),
                                        ctx.origin))
        if not date_header:
            return None
        try:
            return email.utils.parsedate_to_datetime(date_header).astimezone(UTC), received
        except (TypeError, ValueError):
            return None

    @staticmethod
    def _clock_outcome(server: tuple[datetime, float], locale: str) -> _Outcome:
        server_time, received = server
        skew = received - server_time.timestamp()  # Date has 1 s resolution
        if abs(skew) < 1.5:
            skew = 0.0
        value = T("Écart de {s} s avec le serveur", "{s} s from the server").render(locale, s=f"{skew:+.0f}" if skew else "0")
        if abs(skew) > CLOCK_FAIL:
            return _Outcome("fail", value, T(
                "L'horloge du poste est décalée : les dates de signature seraient fausses. Réglez l'heure.",
                "The workstation clock is off: signing times would be wrong. Set the time.").render(locale))
        if abs(skew) > CLOCK_WARN:
            return _Outcome("warn", value, T("Horloge légèrement décalée.", "Clock slightly off.").render(locale))
        return _Outcome("pass", value, T("Horloge à l'heure.", "Clock on time.").render(locale))


KIND = Diagnose()
