"""The verification workflow shared by ``verify`` and the analyse of opened files (``decrypt``,
``bids.open``): the options every verification of a job gets (trust anchors, EU trusted lists per
ETSI TS 119 612, RGS policies, the job's locale), the isolated worker the files are parsed in within
the configured memory and time (agent.isolation, docs/SECURITY.md promise 12), and a report's
overall indication (ETSI EN 319 102-1 section 5.1.3)."""

from __future__ import annotations

import asyncio
import importlib
import logging
import pickle
import time
from typing import TYPE_CHECKING, Any

from ..config import Settings
from ..i18n import Text
from ..isolation import IsolatedWorker, IsolationLimit, take_prestarted
from ..jobs.context import JobContext

if TYPE_CHECKING:
    from cryptography import x509

log = logging.getLogger(__name__)

T = Text


def _indications(report: dict) -> list[str | None]:
    """The indication of every signature of the report and of the documents it encapsulates."""
    found = [s.get("indication") for s in report.get("signatures", [])]
    for inner in report.get("contents", []):
        found += _indications(inner)
    return found


def overall(report: dict) -> str:
    """TOTAL_FAILED if any signature failed (those of an encapsulated document too), TOTAL_PASSED if all
    passed, else INDETERMINATE."""
    indications = _indications(report)
    if "TOTAL_FAILED" in indications:
        return "TOTAL_FAILED"
    if indications and all(i == "TOTAL_PASSED" for i in indications):
        return "TOTAL_PASSED"
    return "INDETERMINATE"


def _trusted_lists(settings: Settings) -> tuple[object | None, list[x509.Certificate]]:
    """The EU trusted lists (ETSI TS 119 612) when LOTL signers are pinned: from the cache, refreshed
    when older than ``trust.trusted_lists_max_age_hours`` (the last verified copy is used offline)."""
    if not settings.lotl_signers:
        return None, []
    from ..public_http import fetch
    from ..trust import load_pem_certificates
    from ..validation.trusted_lists import TrustedListStore

    pins = [cert for path in settings.lotl_signers for cert in load_pem_certificates(path)]
    cache = settings.state_dir / "trusted-lists"
    store = TrustedListStore(cache, settings.lotl_url, pins, fetch=fetch)
    lotl = cache / "lotl.xml"
    fresh = lotl.exists() and time.time() - lotl.stat().st_mtime < settings.trusted_lists_max_age_hours * 3600
    report = store.load() if fresh else store.refresh()
    log.info("trusted lists: %s", report.describe())
    return store.lists, store.trust_anchors()


LIMITS = {
    "memory": T("La vérification de ce fichier a dépassé la mémoire permise ({mb} Mo) et a été arrêtée : le "
                "fichier est peut-être malveillant. S'il est légitime, un administrateur peut relever "
                "[verify] max_memory_mb.",
                "Verifying this file went past the memory allowed ({mb} MB) and was stopped: the file may be "
                "hostile. If it is legitimate, an administrator can raise [verify] max_memory_mb."),
    "time": T("La vérification de ce fichier a dépassé le temps permis ({s} s) et a été arrêtée : le fichier est "
              "peut-être malveillant. S'il est légitime, un administrateur peut relever [verify] timeout_seconds.",
              "Verifying this file went past the time allowed ({s} s) and was stopped: the file may be hostile. "
              "If it is legitimate, an administrator can raise [verify] timeout_seconds."),
    "crash": T("La vérification de ce fichier a échoué (le processus de vérification s'est arrêté) : le fichier "
               "est peut-être malveillant.",
               "Verifying this file failed (the verification process stopped): the file may be hostile."),
}


def verification_worker(settings: Settings) -> IsolatedWorker:
    """The worker process of one verify job: the files are parsed there, within the configured
    memory and time (agent.isolation, docs/SECURITY.md promise 12)."""
    limits = (settings.verify_max_memory_mb * 1024 * 1024, settings.verify_timeout_seconds)
    return take_prestarted(*limits) or IsolatedWorker(*limits)


def run_isolated(worker: IsolatedWorker, target: str, *args: Any, **kwargs: Any) -> Any:
    """``target`` (``"module:function"``) in the worker; in this process only when its arguments
    cannot be sent there (a trusted-list set that does not pickle). The validators are imported
    by the process that runs them: the agent's loads them only in that case."""
    try:
        pickle.dumps((args, {k: v for k, v in kwargs.items() if k != "progress"}))
    except (pickle.PicklingError, TypeError, AttributeError):
        log.warning("verification runs in the agent's process: its arguments cannot go to a worker")
        module, _, function = target.partition(":")
        return getattr(importlib.import_module(module), function)(*args, **kwargs)
    return worker.call(target, *args, **kwargs)


async def verification_options(ctx: JobContext) -> dict[str, Any]:
    """The options every verification of a job gets: the configured trust anchors and intermediates
    (as DER: the worker parses them, so that this process needs no certificate parser for them),
    the trusted lists in use and their anchors, the RGS policies, fetching allowed, the job's
    locale (prepared off the event loop: reading the lists takes time)."""
    from ..pki.pem import anchor_ders

    settings = ctx.services.settings

    def prepare() -> tuple[list[bytes], list[bytes], object | None]:
        roots, intermediates = anchor_ders(settings.trust_roots, settings.trust_intermediates,
                                           system=settings.trust_system)
        lists, list_anchors = _trusted_lists(settings)
        if list_anchors:
            from cryptography.hazmat.primitives.serialization import Encoding

            roots += [cert.public_bytes(Encoding.DER) for cert in list_anchors]
        return roots, intermediates, lists

    roots, intermediates, lists = await asyncio.to_thread(prepare)
    return {"trust_roots": roots, "trusted_lists": lists, "intermediates": intermediates,
            "rgs_policies": settings.rgs_policies, "allow_fetching": True, "locale": ctx.locale}


def share_options(worker: IsolatedWorker, options: dict[str, Any]) -> bool:
    """Hand the batch's options (trust anchors and the rest) to each worker once, not with every
    file; False when they cannot go to a worker (the files are then verified here)."""
    try:
        pickle.dumps(options)
    except (pickle.PicklingError, TypeError, AttributeError):
        return False
    worker.setup("agent.validation.batch:configure", **options)
    return True


def limit_message(exc: IsolationLimit, ctx: JobContext) -> str:
    settings = ctx.services.settings
    return ctx.t(LIMITS[exc.reason], mb=settings.verify_max_memory_mb, s=int(settings.verify_timeout_seconds))
