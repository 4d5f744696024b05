"""What the console shows of jobs and of the journal: pure functions over snapshots and audit
records, with no server, session or service (the JSON calls of agent.desktop.console.api use them).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

#: Audit entries the journal section shows (newest).
MAX_AUDIT_ENTRIES = 200
#: Succeeded operations the journal view always shows, whatever came after them.
MAX_AUDIT_SUCCEEDED = 200

#: Result members the console shows of a finished job's files.
_FILE_FIELDS = ("source", "status", "output", "folder", "name", "format", "extracted", "uploaded", "error", "pli")


def job_view(snapshot: dict[str, Any], origin: str) -> dict[str, Any]:
    """A job as the console shows it: the snapshot without its full result, the owner, and the
    result's essentials (consultation reference, outputs, verdict, key location)."""
    view = {k: v for k, v in snapshot.items() if k != "result"}
    view["origin"] = origin
    result = snapshot.get("result")
    summary: dict[str, Any] = {}
    if isinstance(result, dict):
        for key in ("reference", "title", "consultation", "indication", "report_name", "location", "store",
                    "signed", "decrypted", "opened", "failed", "uploaded", "envelopes", "folder", "status", "message"):
            value = result.get(key)
            if key in result and (value is None or isinstance(value, (str, int, float, bool))):
                summary[key] = value
        files = result.get("files")
        if isinstance(files, list):
            summary["files"] = [{k: f.get(k) for k in _FILE_FIELDS if k in f} for f in files[:50] if isinstance(f, dict)]
            summary["files_total"] = len(files)
        checks = result.get("checks")
        if isinstance(checks, list):
            summary["checks"] = checks[:20]
    subject = snapshot.get("subject")
    if isinstance(subject, dict):  # known while the job runs; the result may say more at its end
        for key in ("reference", "title"):
            if isinstance(subject.get(key), str):
                summary.setdefault(key, subject[key])
    view["summary"] = summary
    return view


def journal_selection(records: Iterable[dict[str, Any]], limit: int = MAX_AUDIT_ENTRIES,
                      kept_succeeded: int = MAX_AUDIT_SUCCEEDED) -> tuple[list[dict[str, Any]], int]:
    """The journal entries the console shows, newest first, and how many older ones it leaves out.

    The newest ``limit`` entries, and in any case the newest ``kept_succeeded`` operations that
    succeeded (signatures, openings, key generations, pairings the user approved): a site that
    makes hundreds of jobs fail can push failures out of view, never the user's own operations.
    The whole journal stays in the file and in its export.
    """
    recent: deque[dict[str, Any]] = deque(maxlen=limit)
    succeeded: deque[dict[str, Any]] = deque(maxlen=kept_succeeded)
    total = 0
    for record in records:
        total += 1
        recent.append(record)
        if record.get("result") == "succeeded":
            succeeded.append(record)
    shown = {id(r): r for r in (*succeeded, *recent)}
    ordered = sorted(shown.values(), key=lambda r: r.get("seq") or 0, reverse=True)
    return ordered, total - len(ordered)


def audit_view(record: dict[str, Any]) -> dict[str, Any]:
    """An audit record for the journal table (names and digests only, as the journal holds)."""
    certificate = record.get("certificate") if isinstance(record.get("certificate"), dict) else None
    return {
        "seq": record.get("seq"),
        "time": record.get("time"),
        "origin": record.get("origin"),
        "action": record.get("action"),
        "result": record.get("result"),
        "error": record.get("error"),
        "job": record.get("job"),
        "inputs": [{"name": i.get("name"), "size": i.get("size"), "sha256": i.get("sha256")}
                   for i in record.get("inputs") or [] if isinstance(i, dict)][:20],
        "outputs": [{"name": o.get("name"), "status": o.get("status")}
                    for o in record.get("outputs") or [] if isinstance(o, dict)][:20],
        "certificate": {"subject": certificate.get("subject"), "sha256": certificate.get("sha256")} if certificate else None,
        "hash": record.get("hash"),
    }
