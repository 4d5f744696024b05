"""The job runner: start, queue, cancel, persist and publish jobs.

* At most ``max_concurrent`` jobs run at once; the others wait in ``queued``.
* Cancellation is cooperative and prompt: the job's flag is set (for worker threads) and its task
  is cancelled (for awaits), so a running job stops within a second.
* Progress is published on a shared tick, at most every 250 ms; state and step transitions at
  once, after their record is on disk (transitions in quick succession go out as one); a
  listener only ever sees the newest snapshot, and always the last.
* State transitions are written to the store atomically; on shutdown running jobs become
  ``interrupted``, exactly as after a crash.
* The kinds and the platform client are given (``kinds``, ``platform_client``): the job layer
  imports no kind and no HTTP client (agent/jobs/kind.py, agent/kinds/registry.py).
* When an audit journal is given, the end of each audited job (signature, decryption, key
  generation) is recorded there, here and nowhere else (agent.jobs.audit says what is kept).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from bridge_protocol.errors import ErrorCode, ProtocolError, error_message
from bridge_protocol.typed import ParseError, local_only_member, parse, to_json

from ..errors import ReportedError
from ..i18n import Text
from ..logs import ThrottledLog
from .audit import JobWitness
from .context import JobCancelled, JobContext, JobServices
from .kind import JobKind, KindRegistry
from .model import Job, StepRecord, new_job_id, utc_now
from .slots import FairSlots
from .store import JobStore
from .waiting import AnnouncedConsent

if TYPE_CHECKING:
    from ..audit import AuditLog
    from ..platform_http import OriginBoundClient

log = logging.getLogger(__name__)
_refusals = ThrottledLog(log)

#: Progress-only changes are published on one shared tick, at most this often: every job that
#: moved since the last tick goes out in the same loop round, so each page's writer wakes once per
#: tick for all of them instead of once per job (PROTOCOL.md section 3). Four a second is live
#: progress for a person, and keeps fifty pages of a site from costing the bridge its latency
#: (tests/load/load_bridge.py).
PUBLISH_INTERVAL = 0.25

Listener = Callable[[str, dict[str, Any]], None]

#: What the token said about the PIN tries left (PIN_INCORRECT's detail): a job's error has only a
#: code and a message, so the message tells the user before the PIN locks.
_PIN_LAST_TRY = Text("Attention : dernier essai avant le blocage du code PIN.",
                     "Warning: last try before the PIN locks.")
_PIN_TRIES_LEFT = Text("Attention : il reste {n} essai(s) avant le blocage du code PIN.",
                       "Warning: {n} tries left before the PIN locks.")
_PIN_COUNT_LOW = Text("Attention : il reste peu d'essais avant le blocage du code PIN.",
                      "Warning: few tries left before the PIN locks.")


def job_error_message(exc: ProtocolError | ReportedError, locale: str) -> str:
    """The message of a failed job: the error's, plus the tries left after a wrong PIN."""
    message = exc.message(locale)
    if exc.code is ErrorCode.PIN_INCORRECT:
        tries = exc.detail.get("tries_left")
        if tries == 1:
            message += " " + _PIN_LAST_TRY.render(locale)
        elif isinstance(tries, int):
            message += " " + _PIN_TRIES_LEFT.render(locale, n=tries)
        elif exc.detail.get("count_low"):
            message += " " + _PIN_COUNT_LOW.render(locale)
    return message


#: Makes the HTTP client of a job's platform from the job's origin (agent.kinds.registry.platform_client).
PlatformClientFactory = Callable[[str], "OriginBoundClient"]


def _no_platform(origin: str) -> OriginBoundClient:
    raise RuntimeError(f"no platform client for {origin}: this job manager was built without platform_client")


class JobManager:
    """Owns every job of this agent process.

    ``kinds`` are the kinds it may start (agent.kinds.registry.KINDS); ``platform_client`` makes
    the HTTP client of a job's platform, for the kinds that reach it (without one, such a job fails).
    """

    def __init__(self, services: JobServices, store: JobStore | None = None, max_concurrent: int = 4,
                 audit: AuditLog | None = None, per_site: int | None = None,
                 max_pending_per_site: int = 50, *, kinds: KindRegistry,
                 platform_client: PlatformClientFactory | None = None) -> None:
        self.services = services
        self.kinds = kinds
        self._platform_client = platform_client or _no_platform
        self.store = store
        #: One thread writes the job records, in the order of the changes.
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="job-store") if store else None
        self.audit = audit
        self._slots = FairSlots(max_concurrent, per_site)
        self.max_pending_per_site = max_pending_per_site
        self._jobs: dict[str, Job] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._contexts: dict[str, JobContext] = {}
        self._user_cancelled: set[str] = set()
        self._listeners: list[Listener] = []
        #: Jobs with progress-only changes waiting for the next tick (insertion-ordered).
        self._dirty: dict[str, Job] = {}
        self._tick: asyncio.TimerHandle | None = None
        self._last_tick = -PUBLISH_INTERVAL
        #: Jobs with a state change on its way to disk: nothing of them is published before it is.
        self._writing: dict[str, int] = {}
        if store is not None:
            for job in store.load():
                self._jobs[job.id] = job

    # -- listeners ------------------------------------------------------------------------------
    def add_listener(self, listener: Listener) -> None:
        """``listener(origin, snapshot)`` is called on each published change; it must not block."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    # -- queries (always scoped to one origin: promise 7) ---------------------------------------
    def get(self, origin: str, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None or job.origin != origin:
            raise ProtocolError(ErrorCode.JOB_NOT_FOUND)
        return job

    def list(self, origin: str, limit: int = 100) -> list[Job]:
        jobs = [j for j in self._jobs.values() if j.origin == origin]
        jobs.sort(key=lambda j: j.created_at, reverse=True)
        return jobs[:limit]

    def all_jobs(self, limit: int = 100) -> list[Job]:
        """Every origin's jobs, newest first: for the agent's own console only, never for a page."""
        jobs = sorted(self._jobs.values(), key=lambda j: j.created_at, reverse=True)
        return jobs[:limit]

    def active(self) -> int:
        """How many jobs are queued or running (all origins)."""
        return sum(1 for j in self._jobs.values() if not j.terminal)

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self, origin: str, kind_name: str, params: dict[str, Any], locale: str = "fr",
              services: JobServices | None = None) -> Job:
        """Validate and queue a job; it runs as soon as a slot is free.

        ``services`` replaces the manager's for this job: the local console starts jobs whose
        services allow local paths (``local=True``), as the command line does.
        """
        kind = self.kinds.load(kind_name)
        pending = sum(1 for j in self._jobs.values() if j.origin == origin and not j.terminal)
        if pending >= self.max_pending_per_site:
            _refusals.warning(origin, "job refused for %s: %d jobs already queued or running", origin, pending)
            raise ProtocolError(ErrorCode.TOO_MANY_REQUESTS, reason="jobs_pending", limit=self.max_pending_per_site)
        try:
            typed_params = parse(kind.params_type, params, "/params")
        except ParseError as exc:
            raise ProtocolError(ErrorCode.INVALID_PARAMS, path=exc.path, reason=exc.wording) from None
        if not (services if services is not None else self.services).local:
            # Promise 5: a page never names a local path or folder; refused before any job exists.
            forbidden = local_only_member(typed_params, "/params")
            if forbidden is not None:
                raise ProtocolError(ErrorCode.INVALID_PARAMS, path=forbidden,
                                    reason=Text("réservé à la ligne de commande : une page ne nomme pas de chemin local",
                                                "command line only: a page does not name a local path"))
        job = Job(
            id=new_job_id(),
            kind=kind.name,
            origin=origin,
            locale=locale,
            steps=[StepRecord(s.id, s.label.render(locale), weight=s.weight) for s in kind.steps],
        )
        self._jobs[job.id] = job
        witness = JobWitness.for_kind(self.audit, kind.name)
        base = services if services is not None else self.services
        services = witness.services(base) if witness is not None else base
        services = replace(services, consent=AnnouncedConsent(services.consent, job, self._changed))
        ctx = JobContext(job, services, self._changed, lambda: self._platform_client(origin))
        self._contexts[job.id] = ctx
        self._changed(job, True)
        self._tasks[job.id] = asyncio.create_task(self._run(job, kind, ctx, typed_params, witness),
                                                  name=f"job-{job.id}")
        log.info("job %s (%s) queued for %s", job.id, job.kind, origin)
        return job

    async def _run(self, job: Job, kind: JobKind, ctx: JobContext, params: Any,
                   witness: JobWitness | None = None) -> None:
        try:
            async with self._slots.hold(job.origin):
                job.state = "running"
                self._changed(job, True)
                result = await kind.run(ctx, params)
                job.result = to_json(result)
                job.state = "succeeded"
                job.current = None
        except (asyncio.CancelledError, JobCancelled):
            if job.id in self._user_cancelled:
                self._finish_cancelled(job)
            else:
                self._finish_interrupted(job)
        except (ProtocolError, ReportedError) as exc:
            job.state = "failed"
            if ctx.partial_result is not None:
                job.result = to_json(ctx.partial_result)  # the files that had an outcome keep it
            job.error = {"code": exc.code.value, "message": job_error_message(exc, job.locale)}
            job.message = job.error["message"]
            log.info("job %s failed: %s", job.id, exc.code.value)
        except Exception:
            log.exception("job %s (%s) crashed", job.id, job.kind)
            job.state = "failed"
            job.error = {
                "code": ErrorCode.INTERNAL_ERROR.value,
                "message": error_message(ErrorCode.INTERNAL_ERROR, job.locale),
            }
            job.message = job.error["message"]
        finally:
            job.speed = None
            for step in job.steps:
                if step.state in ("running", "pending") and job.state != "succeeded":
                    step.state = "cancelled" if step.state == "running" else step.state
            await ctx.aclose()
            self._tasks.pop(job.id, None)
            self._contexts.pop(job.id, None)
            self._user_cancelled.discard(job.id)
            if witness is not None:
                witness.record(job, params)  # before the final state is published: never raises
            self._changed(job, True)
            self._prune()
            log.info("job %s ended: %s", job.id, job.state)

    def _prune(self) -> None:
        if self.store is None or self._writer is None:
            return
        kept, dropped = self.store.plan_prune(sorted(self._jobs.values(), key=lambda j: j.created_at))
        for job_id in dropped:
            del self._jobs[job_id]
        if dropped:  # in the writer's queue: after any pending write of the same records
            self._writer.submit(self.store.remove, dropped)

    def _finish_cancelled(self, job: Job) -> None:
        job.state = "cancelled"
        job.message = "Traitement annulé." if job.locale != "en" else "Job cancelled."

    def _finish_interrupted(self, job: Job) -> None:
        job.state = "interrupted"
        job.error = {
            "code": ErrorCode.JOB_INTERRUPTED.value,
            "message": error_message(ErrorCode.JOB_INTERRUPTED, job.locale),
        }
        job.message = job.error["message"]

    def cancel(self, origin: str, job_id: str) -> Job:
        """Ask a job to stop; a finished job is returned unchanged."""
        job = self.get(origin, job_id)
        task = self._tasks.get(job_id)
        if job.terminal or task is None:
            return job
        self._user_cancelled.add(job_id)
        ctx = self._contexts.get(job_id)
        if ctx is not None:
            ctx.request_cancel()
        task.cancel()
        log.info("job %s cancel requested by %s", job_id, origin)
        return job

    async def wait(self, job_id: str) -> Job:
        """Wait for a job's task to end (for the CLI and tests)."""
        task = self._tasks.get(job_id)
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)
        await self._written()
        return self._jobs[job_id]

    async def _written(self) -> None:
        """Return once every record queued so far is written (and its change published)."""
        if self._writer is not None:
            await asyncio.get_running_loop().run_in_executor(self._writer, lambda: None)
            await asyncio.sleep(0)  # let the publications scheduled by those writes run

    async def shutdown(self) -> None:
        """Stop every job; those still running are recorded as interrupted."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None
        self._dirty.clear()
        await self._written()

    # -- publication ----------------------------------------------------------------------------
    def _changed(self, job: Job, urgent: bool) -> None:
        job.updated_at = utc_now()
        if urgent:
            if self.store is not None and self._writer is not None:
                # Written by the store's own thread (an fsync never stalls the bridge), in order;
                # published once on disk, so no page learns of a state a crash would undo.
                data = self.store.encode(job)
                self._writing[job.id] = self._writing.get(job.id, 0) + 1
                write = asyncio.get_running_loop().run_in_executor(self._writer, self._save, job.id, job.state, data)
                write.add_done_callback(lambda _: self._written_then_publish(job))
                return
            self._publish(job)
            return
        self._dirty[job.id] = job
        if self._tick is None:
            loop = asyncio.get_running_loop()
            self._tick = loop.call_at(max(loop.time(), self._last_tick + PUBLISH_INTERVAL), self._publish_dirty)

    def _written_then_publish(self, job: Job) -> None:
        """A state change is on disk: publish the job, unless later changes are still being
        written. The snapshot is taken now and holds those later changes too, so it waits for the
        last write; changes in quick succession (a step ends, the next starts) go out as one."""
        count = self._writing.get(job.id, 1) - 1
        if count > 0:
            self._writing[job.id] = count
            return
        self._writing.pop(job.id, None)
        self._publish(job)

    def _publish_dirty(self) -> None:
        """The shared tick: publish every job whose progress moved since the last one (a job whose
        state change is still being written goes out with that write instead)."""
        self._tick = None
        self._last_tick = asyncio.get_running_loop().time()
        dirty, self._dirty = self._dirty, {}
        for job in dirty.values():
            if job.id not in self._writing:
                self._publish(job)

    def _save(self, job_id: str, state: str, data: bytes) -> None:
        try:
            self.store.write(job_id, state, data)  # type: ignore[union-attr]
        except OSError:
            log.exception("cannot save job %s", job_id)

    def _publish(self, job: Job) -> None:
        self._dirty.pop(job.id, None)  # this snapshot is the newest: the tick has nothing more of it
        snapshot = job.snapshot()
        for listener in list(self._listeners):
            try:
                listener(job.origin, snapshot)
            except Exception:
                log.exception("job listener failed")
