"""EU trusted lists (ETSI TS 119 612 v2.x): download, verify, cache offline, and ask them about certificates.

``TrustedListStore(cache_dir, lotl_url, pinned_certs, fetch=...)``:

* ``refresh()`` downloads the EU *list of trusted lists* (LOTL) through the injected
  ``fetch(url) -> bytes`` callable, verifies its signature against the *pinned* LOTL signer
  certificates (those the Official Journal publishes; configured), then downloads each Member
  State list the LOTL points to (``PointersToOtherTSL``, clause 5.3.13) and verifies it against the
  certificates the LOTL gives for it. Each verified list is written atomically into the cache folder
  (``lotl.xml``, ``tl-FR.xml``…). A list that cannot be fetched, or whose new version is refused,
  is replaced by its last verified cached copy, reported as such with its issue date and next
  update; a refused list without a cached copy is not used at all. A downloaded list older
  (lower ``TSLSequenceNumber``, clause 5.3.2) than the cached one is refused (no rollback).
* ``load()`` does the same from the cache only, fully offline. Cached files are verified again on
  every load: the cache folder is not trusted more than the network.
* ``trust_anchors()`` and ``qualified_at(chain, at)`` query the verified lists
  (``qualified``); ``category_from_trusted_lists`` turns the answer into the
  ``certificate_category`` check of a verification report.

The engine never makes HTTP requests itself: ``fetch`` must enforce its own timeouts and size
limits (the agent wires its HTTP client; tests pass a loopback client or a dict). It is called
from a few worker threads at once during ``refresh()``.

Not covered: the LOTL "pivot" mechanism for rotating the pinned certificates (configure the new
certificates instead), non-EU/MRA lists, human-readable (PDF) lists, the trusted lists' own
revocation checking of TSA/OCSP services.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509

from ...fsutil import atomic_write_bytes
from ...pki.cert_facts import QUALIFIED_POLICIES, qc_statements
from ..model import Check, CheckStatus, passed, warning
from .model import (
    TSLTYPE_EU_LOTL,
    ListRefused,
    Message,
    OtherTslPointer,
    TrustedList,
    message,
)
from .parse import MAX_LIST_SIZE, read_list
from .qualified import QualifiedStatus, TrustedListSet

__all__ = [
    "Fetch", "ListRefused", "ListStatus", "QualifiedStatus", "RefreshReport", "TrustedList", "TrustedListSet",
    "TrustedListStore", "category_from_trusted_lists", "read_list",
]

log = logging.getLogger(__name__)

#: ``fetch(url)`` returns the body of an HTTP(S) GET, raising on any failure (timeouts included).
Fetch = Callable[[str], bytes]
LOTL_FILE = "lotl.xml"
_TERRITORY = re.compile(r"[A-Z]{2}")
#: ETSI EN 319 411-2 NCP+ is RGS**, not an eIDAS qualification.
_NCP_PLUS = "0.4.0.2042.1.2"


@dataclass(frozen=True)
class ListStatus:
    """What became of one list during ``refresh()``/``load()``.

    ``state``: ``downloaded`` (fresh and verified), ``cached`` (last verified copy used),
    ``refused`` (not used: ``refusal`` says why) or ``missing`` (nothing usable).
    """

    territory: str
    url: str
    state: str
    message: Message
    sequence_number: int | None = None
    issued: datetime | None = None
    next_update: datetime | None = None
    signer: str | None = None
    fetch_error: str | None = None
    refusal: Message | None = None

    @property
    def usable(self) -> bool:
        return self.state in ("downloaded", "cached")

    def describe(self, locale: str = "fr") -> str:
        return self.message.render(locale)


@dataclass(frozen=True)
class RefreshReport:
    """One status per list: the LOTL first (territory ``EU``), then the Member State lists."""

    at: datetime
    lists: tuple[ListStatus, ...]

    @property
    def lotl(self) -> ListStatus:
        return self.lists[0]

    def status(self, territory: str) -> ListStatus | None:
        return next((s for s in self.lists[1:] if s.territory == territory.upper()), None)

    @property
    def ok(self) -> bool:
        return all(s.state == "downloaded" for s in self.lists)

    def describe(self, locale: str = "fr") -> str:
        return "\n".join(s.describe(locale) for s in self.lists)


# -- the store ------------------------------------------------------------------------------------


class TrustedListStore:
    """The LOTL and Member State lists: downloaded, verified, cached in ``cache_dir``."""

    def __init__(self, cache_dir: Path, lotl_url: str, pinned_certs: Sequence[x509.Certificate],
                 fetch: Fetch | None = None, *, clock: Callable[[], datetime] | None = None, max_workers: int = 4,
                 lotl_type: str = TSLTYPE_EU_LOTL) -> None:
        self.cache_dir = Path(cache_dir)
        self.lotl_url = lotl_url
        self.pinned_certs = tuple(pinned_certs)
        self.max_workers = max(1, max_workers)
        self.lotl_type = lotl_type
        self._fetch = fetch
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self._lists = TrustedListSet(clock=self._clock)
        self.last_report: RefreshReport | None = None

    # -- queries --------------------------------------------------------------------------------

    @property
    def lists(self) -> TrustedListSet:
        """The verified lists of the last ``refresh()``/``load()`` (an immutable snapshot)."""
        return self._lists

    def trust_anchors(self, at: datetime | None = None, *, qualified_only: bool = True) -> list[x509.Certificate]:
        return self._lists.trust_anchors(at, qualified_only=qualified_only)

    def qualified_at(self, cert_chain: Sequence[x509.Certificate], at: datetime) -> QualifiedStatus:
        return self._lists.qualified_at(cert_chain, at)

    # -- refresh and load -----------------------------------------------------------------------

    def refresh(self) -> RefreshReport:
        """Download and verify the LOTL and the lists it points to; fall back on the cache per list."""
        return self._run(online=self._fetch is not None)

    def load(self) -> RefreshReport:
        """Verify and use the cached lists only (no network)."""
        return self._run(online=False)

    def _run(self, online: bool) -> RefreshReport:
        with self._lock:
            now = self._clock()
            lotl, lotl_status = self._obtain("EU", self.lotl_url, self.cache_dir / LOTL_FILE, self.pinned_certs,
                                             self.lotl_type, None, online, now)
            statuses = [lotl_status]
            lists: list[TrustedList] = []
            if lotl is not None:
                pointers = _member_pointers(lotl)
                refused = [p for p in pointers if isinstance(p, ListStatus)]
                usable = [p for p in pointers if isinstance(p, OtherTslPointer)]

                def one(pointer: OtherTslPointer) -> tuple[TrustedList | None, ListStatus]:
                    territory = (pointer.territory or "").upper()
                    return self._obtain(territory, pointer.location, self.cache_dir / f"tl-{territory}.xml",
                                        pointer.certificates, pointer.tsl_type, territory, online, now)

                if online and len(usable) > 1:
                    with ThreadPoolExecutor(min(self.max_workers, len(usable)), thread_name_prefix="tl") as pool:
                        results = list(pool.map(one, usable))
                else:
                    results = [one(p) for p in usable]
                for trusted_list, status in results:
                    statuses.append(status)
                    if trusted_list is not None:
                        lists.append(trusted_list)
                statuses += refused
            self._lists = TrustedListSet(lotl=lotl, lists=tuple(lists), clock=self._clock)
            self.last_report = RefreshReport(now, tuple(statuses))
            for status in statuses:
                if not status.usable:
                    log.warning("trusted list %s: %s", status.territory, status.describe("en"))
            return self.last_report

    def _obtain(self, territory: str, url: str, path: Path, allowed: Sequence[x509.Certificate],
                expected_type: str | None, expected_territory: str | None, online: bool, now: datetime
                ) -> tuple[TrustedList | None, ListStatus]:
        """The fresh list if it verifies, else the cached copy if it verifies, with what happened."""
        cached, cache_refusal = self._read_cache(path, url, allowed, expected_type, expected_territory, now)
        fetch_error: str | None = None
        refusal: Message | None = None
        if online:
            data: bytes | None = None
            try:
                data = self._download(url)
            except Exception as exc:  # noqa: BLE001 — whatever the injected client raises means "not fetched"
                fetch_error = f"{type(exc).__name__}: {exc}"[:300]
            if data is not None:
                try:
                    fresh = read_list(data, allowed, source=url, expected_type=expected_type,
                                      expected_territory=expected_territory, now=now)
                except ListRefused as refused:
                    refusal = refused.reason
                else:
                    if cached is not None and fresh.sequence_number < cached.sequence_number:
                        refusal = message("version n° {n} antérieure à la copie vérifiée n° {c} (retour en arrière "
                                          "refusé)", "version no. {n} older than the verified copy no. {c} "
                                          "(rollback refused)", n=fresh.sequence_number, c=cached.sequence_number)
                    else:
                        atomic_write_bytes(path, data)
                        fresh = replace(fresh, origin="downloaded", downloaded_at=now)
                        return fresh, _status(territory, url, "downloaded", fresh, now)
        if cached is not None:
            why: Message | None = None
            if refusal is not None:
                why = message("nouvelle version refusée : {r}", "new version refused: {r}", r=refusal)
            elif fetch_error is not None:
                why = message("téléchargement impossible ({e})", "download failed ({e})", e=fetch_error)
            return cached, _status(territory, url, "cached", cached, now, why=why, fetch_error=fetch_error,
                                   refusal=refusal)
        refusal = refusal or cache_refusal
        if refusal is not None:
            return None, ListStatus(territory, url, "refused", message(
                "Liste {t} refusée, non utilisée : {r}", "{t} list refused, not used: {r}", t=territory, r=refusal),
                fetch_error=fetch_error, refusal=refusal)
        reason = message("téléchargement impossible ({e})", "download failed ({e})", e=fetch_error) \
            if fetch_error is not None else message("hors ligne", "offline")
        return None, ListStatus(territory, url, "missing", message(
            "Liste {t} indisponible : {r} ; aucune copie vérifiée en cache.",
            "{t} list unavailable: {r}; no verified copy in the cache.", t=territory, r=reason),
            fetch_error=fetch_error)

    def _download(self, url: str) -> bytes:
        scheme = urlsplit(url).scheme.lower()
        if scheme not in ("http", "https"):
            raise ValueError(f"unsupported URL scheme {scheme!r}")
        assert self._fetch is not None
        data = self._fetch(url)
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError("fetch() must return bytes")
        if len(data) > MAX_LIST_SIZE:
            raise ValueError(f"response larger than {MAX_LIST_SIZE} bytes")
        return bytes(data)

    def _read_cache(self, path: Path, url: str, allowed: Sequence[x509.Certificate], expected_type: str | None,
                    expected_territory: str | None, now: datetime) -> tuple[TrustedList | None, Message | None]:
        try:
            data = path.read_bytes()
            stamp = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        except FileNotFoundError:
            return None, None
        except OSError as exc:
            return None, message("cache illisible ({e})", "unreadable cache ({e})", e=exc)
        try:
            cached = read_list(data, allowed, source=url, expected_type=expected_type,
                               expected_territory=expected_territory, now=now)
        except ListRefused as refused:
            return None, message("copie en cache refusée : {r}", "cached copy refused: {r}", r=refused.reason)
        return replace(cached, origin="cache", downloaded_at=stamp), None


def _member_pointers(lotl: TrustedList) -> list[OtherTslPointer | ListStatus]:
    """The LOTL's pointers to Member State XML lists (one per territory), or why one is unusable."""
    found: list[OtherTslPointer | ListStatus] = []
    seen: set[str] = set()
    for pointer in lotl.pointers:
        if not pointer.is_xml_member_list:
            continue
        territory = (pointer.territory or "").upper()
        problem: Message | None = None
        if not _TERRITORY.fullmatch(territory):
            problem = message("territoire absent ou invalide ({t})", "missing or invalid territory ({t})",
                              t=territory or "?")
        elif territory in seen:
            continue
        elif urlsplit(pointer.location).scheme.lower() not in ("http", "https"):
            problem = message("adresse non HTTP(S) ({u})", "non-HTTP(S) address ({u})", u=pointer.location)
        elif not pointer.certificates:
            problem = message("la liste des listes ne donne aucun certificat pour la vérifier",
                              "the list of lists gives no certificate to verify it")
        seen.add(territory)
        if problem is None:
            found.append(pointer)
        else:
            found.append(ListStatus(territory or "?", pointer.location, "refused", message(
                "Liste {t} refusée, non utilisée : {r}", "{t} list refused, not used: {r}", t=territory or "?",
                r=problem), refusal=problem))
    return found


def _status(territory: str, url: str, state: str, trusted_list: TrustedList, now: datetime, *,
            why: Message | None = None, fetch_error: str | None = None, refusal: Message | None = None) -> ListStatus:
    details = _details(trusted_list, now)
    if state == "downloaded":
        text = message("Liste {t} téléchargée et vérifiée ({d}).", "{t} list downloaded and verified ({d}).",
                       t=territory, d=details)
    elif why is not None:
        text = message("Liste {t} : {w} ; dernière liste vérifiée en cache utilisée ({d}).",
                       "{t} list: {w}; last verified list from the cache used ({d}).", t=territory, w=why, d=details)
    else:
        text = message("Liste {t} : liste vérifiée en cache ({d}).", "{t} list: verified list from the cache ({d}).",
                       t=territory, d=details)
    return ListStatus(territory, url, state, text, sequence_number=trusted_list.sequence_number,
                      issued=trusted_list.issued, next_update=trusted_list.next_update,
                      signer=_label(trusted_list.signer), fetch_error=fetch_error, refusal=refusal)


def _label(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.subject.rfc4514_string()


def _details(trusted_list: TrustedList, now: datetime) -> Message:
    signer = _label(trusted_list.signer)
    if trusted_list.next_update is None:
        return message("n° {n}, émise le {i}, liste close, signée par « {s} »",
                       "no. {n}, issued on {i}, closed list, signed by \"{s}\"", n=trusted_list.sequence_number,
                       i=trusted_list.issued, s=signer)
    if trusted_list.expired(now):
        return message("n° {n}, émise le {i}, périmée depuis le {u}, signée par « {s} »",
                       "no. {n}, issued on {i}, expired since {u}, signed by \"{s}\"", n=trusted_list.sequence_number,
                       i=trusted_list.issued, u=trusted_list.next_update, s=signer)
    return message("n° {n}, émise le {i}, prochaine mise à jour le {u}, signée par « {s} »",
                   "no. {n}, issued on {i}, next update on {u}, signed by \"{s}\"", n=trusted_list.sequence_number,
                   i=trusted_list.issued, u=trusted_list.next_update, s=signer)


# -- the verification report's certificate category ------------------------------------------------------


def _claims_qualified(cert: x509.Certificate) -> bool:
    """QcCompliance or an eIDAS QCP policy in the certificate itself (not NCP+, which is RGS**)."""
    try:
        statements = qc_statements(cert)
        policies = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
        oids = {p.policy_identifier.dotted_string for p in policies}
    except x509.ExtensionNotFound:
        oids = set()
    except ValueError:
        return False
    return "qc_compliance" in statements or any(p in QUALIFIED_POLICIES and p != _NCP_PLUS for p in oids)


def category_from_trusted_lists(lists: TrustedListSet, chain: Sequence[x509.Certificate], at: datetime, *,
                                locale: str = "fr", fallback: Check | None = None) -> Check:
    """The ``certificate_category`` check decided by the trusted lists.

    ``chain`` is the signer's certificate then its issuers (leaf first), ``at`` the best signing
    time. Qualified per the lists: PASSED, "Certificat qualifié … selon la liste de confiance FR au
    <date> …" followed by ``fallback``'s facts (organisation identifier…). Otherwise: a certificate that claims to be qualified gets a WARNING saying the lists
    do not confirm it; any other keeps ``fallback`` (the category from the certificate alone, e.g.
    RGS) with the lists' answer appended. Never an indication: categorising does not change the
    signature's validity.
    """
    status = lists.qualified_at(chain, at)
    if status.qualified:
        facts = message(" Selon le certificat lui-même : {f}", " Per the certificate itself: {f}",
                        f=fallback.message).render(locale) \
            if fallback is not None and fallback.message else ""
        return passed("certificate_category", status.describe(locale) + facts)
    note = status.describe(locale)
    if _claims_qualified(chain[0]):
        text = message("Le certificat se déclare qualifié, mais les listes de confiance ne le confirment pas : {n}",
                       "The certificate claims to be qualified, but the trusted lists do not confirm it: {n}", n=note)
        return warning("certificate_category", text.render(locale))
    if fallback is not None:
        extra = message("Listes de confiance : {n}", "Trusted lists: {n}", n=note).render(locale)
        status_kind = fallback.status if fallback.status is not CheckStatus.FAILED else CheckStatus.WARNING
        return Check(fallback.name, status_kind, f"{fallback.message} {extra}")
    return warning("certificate_category", message("Certificat non qualifié selon les listes de confiance : {n}",
                                                   "Not a qualified certificate per the trusted lists: {n}",
                                                   n=note).render(locale))
