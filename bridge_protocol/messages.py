"""The messages of the Compagnon bridge protocol, version 1.

One definition for the agent, the Python client, the tests and the generated documents
(``schema/bridge.schema.json`` and ``schema/asyncapi.json``). Transport: JSON-RPC 2.0 text frames
over ``ws://127.0.0.1:47230/bridge`` (ports 47230 to 47233, then 47234 to 47329 on shared machines).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from .certificates import CertificatesListParams, CertificatesListResult
from .files import FileChunk, FileGetParams, FileInfo, FilePickParams, FilePickResult, FilePutParams
from .job_states import TERMINAL_STATES as TERMINAL_STATES  # the states, named here too
from .job_states import JobState as JobState
from .job_states import StepState as StepState
from .transport import ALL_PORTS as ALL_PORTS  # the transport's constants, named here too
from .transport import BRIDGE_PATH as BRIDGE_PATH
from .transport import DEFAULT_PORT as DEFAULT_PORT
from .transport import MAX_FRAME_BYTES as MAX_FRAME_BYTES
from .transport import PORTS as PORTS
from .transport import SHARED_PORTS as SHARED_PORTS
from .transport import user_port_order as user_port_order

PROTOCOL_VERSION = 1
#: The revision of protocol 1 these definitions are: additions only (PROTOCOL.md "Versioning",
#: CHANGELOG.md). The generated documents are versioned ``PROTOCOL_VERSION.PROTOCOL_REVISION.0``.
PROTOCOL_REVISION = 0
PRODUCT = "compagnon"

Locale = Literal["fr", "en"]

_ID = {"maxLength": 64, "pattern": r"^[A-Za-z0-9_.:-]+$"}


@dataclass
class ClientInfo:
    """Who is calling: the platform page or tool, for the agent's log and console."""

    name: str = field(metadata={"maxLength": 100})
    version: str = field(metadata={"maxLength": 50})


#: A semantic version (https://semver.org), e.g. ``0.2.0`` or ``1.0.0-rc.1``.
SEMVER_PATTERN = r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$"


@dataclass
class HelloParams:
    """``agent.hello`` request: the protocol version the page speaks and, optionally, its language
    and the oldest agent version it works with (``min_version``: "mise à jour requise" below it)."""

    protocol: int
    client: ClientInfo
    locale: Locale | None = None
    min_version: str | None = field(default=None, metadata={"maxLength": 64, "pattern": SEMVER_PATTERN})


@dataclass
class HelloResult:
    """``agent.hello`` answer. ``capabilities`` names what this agent can do (``job:<kind>``, methods).

    ``paired``: this agent holds a pairing key for the calling site; ``authenticated``: this
    connection proved it (``agent.auth``). Neither is proof of anything to the page: only the
    agent's ``agent.auth`` answer is.
    ``update_required``: the page's ``min_version`` is above this agent's version.
    ``update_available``: the newer version the agent's last update check found, else null.
    ``consent_timeout``: the seconds the agent waits for the user's answer in its own UI (consent
    prompt, file picker); the calls of ``WAITS_FOR_USER`` may take that long before they answer.
    """

    product: Literal["compagnon"]
    version: str
    protocol: int
    capabilities: list[str]
    paired: bool = False
    authenticated: bool = False
    update_required: bool = False
    update_available: str | None = None
    consent_timeout: float = field(default=120.0, metadata={"minimum": 0})


#: The methods whose answer waits for the user in the agent's UI, up to ``consent_timeout``:
#: ``agent.pair`` (step ``exchange``: "allow this site?"), ``certificates.list`` (the first call of a
#: site: releasing the list) and ``files.pick`` (the file picker).
WAITS_FOR_USER = ("agent.pair", "certificates.list", "files.pick")


#: Base64 (RFC 4648 section 4) of a P-256 key, a nonce, a commitment or a proof.
_B64 = {"maxLength": 100, "pattern": r"^[A-Za-z0-9+/]+={0,2}$"}

PairStep = Literal["commit", "exchange", "code", "confirm"]
AuthStep = Literal["challenge", "prove"]


@dataclass
class PairParams:
    """``agent.pair`` request, in four steps on one connection (PROTOCOL.md "Pairing").

    ``commit``: no other member; ``exchange``: the page's ECDH key ``public_key`` (uncompressed
    P-256, base64) and its 32-byte ``nonce``; ``code``: the page's ``commitment`` to the code the
    user typed, SHA-256("compagnon-code-v1" || origin || pk_P || pk_A || n_P || code || r_P);
    ``confirm``: the ``opening`` r_P of that commitment (32 bytes) and the page's ``proof``
    HMAC(K, "page-confirm" || transcript || code)."""

    step: PairStep
    public_key: str | None = field(default=None, metadata=_B64)
    nonce: str | None = field(default=None, metadata=_B64)
    commitment: str | None = field(default=None, metadata=_B64)
    opening: str | None = field(default=None, metadata=_B64)
    proof: str | None = field(default=None, metadata=_B64)


@dataclass
class PairResult:
    """``agent.pair`` answer. ``commit``: ``commitment`` = SHA-256(pk_A || n_A); ``exchange`` (once the
    user allowed the site in the agent, which shows the six-digit code): ``public_key`` only;
    ``code``: the agent's ``nonce`` n_A, revealed once the page committed to the typed code;
    ``confirm``: ``paired`` true and the agent's ``proof`` HMAC(K, "agent-confirm" || transcript || code)."""

    paired: bool = False
    commitment: str | None = None
    public_key: str | None = None
    nonce: str | None = None
    proof: str | None = None


@dataclass
class AuthParams:
    """``agent.auth`` request: ``challenge`` with the page's fresh ``nonce``, then ``prove`` with the
    page's ``proof`` HMAC(K, "page" || origin || n_P || n_A)."""

    step: AuthStep
    nonce: str | None = field(default=None, metadata=_B64)
    proof: str | None = field(default=None, metadata=_B64)


@dataclass
class AuthResult:
    """``agent.auth`` answer. ``challenge``: the agent's fresh ``nonce`` and its ``proof``
    HMAC(K, "agent" || origin || n_P || n_A), to be checked BEFORE the page sends anything else;
    ``prove``: ``authenticated`` true."""

    authenticated: bool = False
    nonce: str | None = None
    proof: str | None = None


@dataclass
class JobStartParams:
    """``jobs.start`` request. ``params`` is checked by the job kind; ``locale`` sets its messages."""

    kind: str = field(metadata={"maxLength": 64})
    params: dict[str, Any] = field(default_factory=dict)
    locale: Locale | None = None


@dataclass
class JobIdParams:
    """``jobs.get`` and ``jobs.cancel`` request."""

    id: str = field(metadata=_ID)


@dataclass
class JobListParams:
    """``jobs.list`` request: the calling site's jobs, newest first."""

    limit: int = field(default=100, metadata={"minimum": 1, "maximum": 500})


@dataclass
class Step:
    """One step of a job, with its own state and progress (0-100)."""

    id: str
    label: str
    state: StepState
    progress: int = field(metadata={"minimum": 0, "maximum": 100})


@dataclass
class Current:
    """The item being worked on, e.g. ``{"label": "fichier", "index": 5, "total": 8}``."""

    label: str
    index: int
    total: int


@dataclass
class JobSubject:
    """What a job works on, known before it ends: the consultation a ``bids.download`` or a
    ``bids.open`` is for (its reference, e.g. "DEMO-2026-001", and its title)."""

    reference: str | None = field(default=None, metadata={"maxLength": 200})
    title: str | None = field(default=None, metadata={"maxLength": 500})


@dataclass
class JobError:
    """Why a job failed: a stable ``code`` (see errors) and a message for the user."""

    code: str
    message: str


@dataclass
class JobSnapshot:
    """The state of a job, as sent by ``jobs.*`` answers and ``jobs.updated``.

    ``speed`` is in bytes per second while the job moves data, else null. Times are RFC 3339 UTC.
    """

    id: str
    kind: str
    state: JobState
    progress: int = field(metadata={"minimum": 0, "maximum": 100})
    steps: list[Step]
    current: Current | None
    message: str | None
    result: Any
    error: JobError | None
    created_at: str
    updated_at: str
    speed: float | None = None
    subject: JobSubject | None = None


@dataclass
class JobUpdated:
    """``jobs.updated`` notification, sent to every connection of the job's site on each change."""

    job: JobSnapshot


@dataclass(frozen=True)
class Method:
    """A request the agent answers."""

    name: str
    params: type
    result: Any
    summary: str


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("agent.hello", HelloParams, HelloResult, "Say hello: version, protocol, capabilities."),
        Method("agent.pair", PairParams, PairResult,
               "Pair this site once: ECDH, a code the agent shows and the user types in the page, a shared key."),
        Method("agent.auth", AuthParams, AuthResult,
               "Prove both sides hold the site's pairing key (each connection, before anything else)."),
        Method(
            "certificates.list",
            CertificatesListParams,
            CertificatesListResult,
            "The user's certificates with a private key, with their facts (pairing and consent first).",
        ),
        Method("files.pick", FilePickParams, FilePickResult, "Let the user choose local files in the agent's picker."),
        Method("files.put", FilePutParams, FileInfo, "Upload a file in base64 chunks; returns its handle."),
        Method("files.get", FileGetParams, FileChunk, "Read a chunk of a file this site owns (e.g. a signed output)."),
        Method("jobs.start", JobStartParams, JobSnapshot, "Start a job of a given kind."),
        Method("jobs.get", JobIdParams, JobSnapshot, "The snapshot of one of this site's jobs."),
        Method("jobs.list", JobListParams, list[JobSnapshot], "This site's jobs, newest first."),
        Method("jobs.cancel", JobIdParams, JobSnapshot, "Cancel a job; cancelling a finished job is a no-op."),
    )
}

#: Methods a connection may call before it is authenticated (``agent.auth``); every other one is
#: answered NOT_AUTHENTICATED until then.
OPEN_METHODS: frozenset[str] = frozenset({"agent.hello", "agent.pair", "agent.auth"})

#: Notifications the agent sends (JSON-RPC requests without ``id``).
NOTIFICATIONS: dict[str, type] = {"jobs.updated": JobUpdated}
