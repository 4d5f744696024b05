"""TypeScript declarations of the bridge protocol, generated from the message types.

``js/protocol.d.ts`` is written from the same dataclasses as ``schema/bridge.schema.json``: every
method's params and result, every job kind's params and result, the job snapshot, the
notification and the error codes. ``js/compagnon.d.ts`` (the browser client's own API) imports it,
so a page gets typed calls (``call("files.put", ...)``, ``runJob("sign", ...)``) that follow the
protocol as the agent enforces it.

Direction matters: what a page sends (params) may leave out any member that has a default, so
those members are optional (``?``); what the agent sends (results, snapshots) always carries every
member (``typed.to_json`` writes them all), so there nothing is optional, only nullable.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import json
import textwrap
import typing
from typing import Any, Literal, get_args, get_origin

from . import certificates, kinds, messages
from .capabilities import FEATURES
from .errors import ERRORS
from .kind_errors import ANY_KIND, KIND_ERRORS
from .kinds import KINDS
from .messages import METHODS, NOTIFICATIONS, PROTOCOL_REVISION, PROTOCOL_VERSION
from .typed import _is_union, type_hints

#: Named unions: the generated file uses these names where the Python types use the alias.
ALIASES: dict[str, Any] = {
    "Locale": messages.Locale,
    "JobState": messages.JobState,
    "StepState": messages.StepState,
    "PairStep": messages.PairStep,
    "AuthStep": messages.AuthStep,
    "Purpose": certificates.Purpose,
    "CheckStatus": kinds.CheckStatus,
    "SignFormat": kinds.SignFormat,
    "SignLevel": kinds.SignLevel,
    "Indication": typing.Literal["TOTAL_PASSED", "TOTAL_FAILED", "INDETERMINATE"],
}

#: Members whose Python type is open JSON (``dict[str, Any]``) but whose shape PROTOCOL.md
#: specifies: the verification report ("verify" in section 5), declared in ``REPORT_TYPES``.
OVERRIDES: dict[tuple[str, str], str] = {
    ("VerifyResult", "report"): "VerificationReport | VerifyBatchReport",
    ("HelloResult", "capabilities"): "Capability[]",
}

#: The verification report (PROTOCOL.md section 5, ``verify``), as the agent writes it.
REPORT_TYPES = '''
/** The status of one check of a signature or container. */
export type CheckOutcome = "passed" | "failed" | "warning" | "not_checked" | "not_applicable";

export interface ReportCheck {
  name: string;
  status: CheckOutcome;
  message: string;
}

/** A PES V2 signature's rules of the DGFiP's checker (beside the ETSI indication, never part of it). */
export interface PesConformance {
  profile: string;
  result: "OK" | "NOK";
  rules: Array<{ name: string; result: "OK" | "NOK" | "NOT_CHECKED"; status: string; message: string }>;
}

export interface SignatureReport {
  id: string;
  format: string;
  level: string | null;
  signer: { name: string | null; organization: string | null; certificate_sha256: string | null; [member: string]: unknown };
  signing_time: string | null;
  signing_time_source: "timestamp" | "claimed" | null;
  indication: Indication;
  sub_indication: string | null;
  checks: ReportCheck[];
  countersignatures: SignatureReport[];
  /** Files of the ASiC container this signature covers (paths inside it); only in a container. */
  covers?: string[];
  /** PES V2 only: what the signer declared in signed XAdES properties, and where the signature sits. */
  properties?: Record<string, unknown>;
  /** PES V2 only. */
  conformance?: PesConformance;
  [member: string]: unknown;
}

/** The ASiC container (ETSI EN 319 162-1) the signatures came from. */
export interface ContainerReport {
  type: "ASiC-S" | "ASiC-E" | "ZIP";
  files: string[];
  /** Data files that no signature covers. */
  uncovered: string[];
  checks: ReportCheck[];
  [member: string]: unknown;
}

/** The report of one file (`verify` with a single file). */
export interface VerificationReport {
  file: string;
  signatures: SignatureReport[];
  /** Documents the file encapsulates (the PDF, XML document or CMS signature inside an attached CAdES .p7m, nested up to 4 levels), each with its own signatures. */
  contents?: VerificationReport[];
  /** Present when the file is an ASiC container: its files, and those no signature covers. */
  container?: ContainerReport;
  [member: string]: unknown;
}

/** One file of a multi-file verification (`verify` with `files`). */
export interface VerifiedFile {
  file: string;
  /** "unsigned": no signature in the file (it may still be the content of a detached signature: `signed_by`). */
  status: "signed" | "unsigned" | "error";
  format: string | null;
  /** The content a detached signature was checked against. */
  content: string | null;
  /** The detached signatures of the batch that sign this file. */
  signed_by: string[];
  indication: Indication | null;
  signatures: SignatureReport[];
  contents: VerificationReport[];
  error: JobError | null;
  container: ContainerReport | null;
  [member: string]: unknown;
}

/** The report of a multi-file verification. */
export interface VerifyBatchReport {
  summary: VerifySummary;
  files: VerifiedFile[];
}
'''

HEADER = f"""\
// Types of the Compagnon bridge protocol {PROTOCOL_VERSION}, revision {PROTOCOL_VERSION}.{PROTOCOL_REVISION}, GENERATED from
// bridge_protocol (messages.py, kinds.py, files.py, certificates.py, capabilities.py, errors.py) by
// `python -m bridge_protocol.documents`.
// Do not edit: change the Python types and generate again (a test fails when this file is stale).
// The same definitions give schema/bridge.schema.json; PROTOCOL.md explains them.
"""


def _literal(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _alias_of(tp: Any) -> str | None:
    for name, alias in ALIASES.items():
        if tp == alias:
            return name
    return None


def ts_type(tp: Any) -> str:
    """The TypeScript type of a Python annotation of the protocol."""
    if tp is Any:
        return "unknown"
    if tp is type(None):
        return "null"
    if tp is bool:
        return "boolean"
    if tp in (int, float):
        return "number"
    if tp is str:
        return "string"
    alias = _alias_of(tp)
    if alias:
        return alias
    origin = get_origin(tp)
    if origin is Literal:
        return " | ".join(_literal(v) for v in get_args(tp))
    if _is_union(tp):
        parts = [ts_type(a) for a in get_args(tp) if a is not type(None)]
        if type(None) in get_args(tp):
            parts.append("null")
        return " | ".join(dict.fromkeys(parts))
    if origin is list:
        inner = ts_type(get_args(tp)[0])
        return f"Array<{inner}>" if "|" in inner else f"{inner}[]"
    if origin is dict:
        return f"Record<string, {ts_type(get_args(tp)[1])}>"
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return tp.__name__
    raise TypeError(f"no TypeScript type for {tp!r}")


def _dataclasses_in(tp: Any, seen: dict[str, type]) -> None:
    """Every dataclass ``tp`` refers to, depth first, in order of first use."""
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if tp.__name__ in seen:
            return
        seen[tp.__name__] = tp
        for hint in type_hints(tp).values():
            _dataclasses_in(hint, seen)
        return
    for arg in get_args(tp):
        _dataclasses_in(arg, seen)


@functools.cache
def _field_comments(tp: type) -> dict[str, str]:
    """The ``#:`` comments written above a dataclass's fields, by field name."""
    try:
        source = textwrap.dedent(inspect.getsource(tp))
    except (OSError, TypeError):
        return {}
    lines = source.splitlines()
    comments: dict[str, str] = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            above: list[str] = []
            row = node.lineno - 2
            while row >= 0 and lines[row].strip().startswith("#:"):
                above.insert(0, lines[row].strip()[2:].strip())
                row -= 1
            if above:
                comments[node.target.id] = " ".join(above)
    return comments


def _jsdoc(text: str, indent: str = "") -> str:
    text = " ".join(text.split()).replace("*/", "*\\/").replace("``", "`")
    return f"{indent}/** {text} */\n"


def _interface(tp: type, *, sent_by_page: bool) -> str:
    name = tp.__name__
    doc = (tp.__doc__ or "").strip()
    out = _jsdoc(doc) if doc and not doc.startswith(f"{name}(") else ""
    generic = ""
    if name == "JobSnapshot":
        generic = "<R = unknown>"
    out += f"export interface {name}{generic} {{\n"
    hints = type_hints(tp)
    comments = _field_comments(tp)
    for f in dataclasses.fields(tp):
        if f.name in comments:
            out += _jsdoc(comments[f.name], "  ")
        if name == "JobSnapshot" and f.name == "result":
            text = "R | null"
        else:
            text = OVERRIDES.get((name, f.name)) or ts_type(hints[f.name])
        has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        optional = "?" if sent_by_page and has_default else ""
        out += f"  {f.name}{optional}: {text};\n"
    return out + "}\n"


def _table(title: str, rows: dict[str, tuple[str, str, str, str | None]]) -> str:
    out = f"{title} {{\n"
    for key, (summary, params, result, errors) in rows.items():
        out += _jsdoc(summary, "  ")
        extra = f"; errors: {errors}" if errors else ""
        out += f"  {_literal(key)}: {{ params: {params}; result: {result}{extra} }};\n"
    return out + "}\n"


def _kind_errors(kind: str) -> str:
    """The union of the codes a kind is documented to give (``kind_errors.py``)."""
    return " | ".join(_literal(c.value) for c in (*KIND_ERRORS.get(kind, {}), *ANY_KIND))


def typescript_declarations() -> str:
    """The text of ``js/protocol.d.ts``."""
    sent: dict[str, type] = {}
    received: dict[str, type] = {}
    for m in METHODS.values():
        _dataclasses_in(m.params, sent)
        _dataclasses_in(m.result, received)
    for k in KINDS.values():
        _dataclasses_in(k.params, sent)
        _dataclasses_in(k.result, received)
    for tp in NOTIFICATIONS.values():
        _dataclasses_in(tp, received)
    both = set(sent) & set(received)
    if both:
        raise TypeError(f"types both sent and received (optional members would be ambiguous): {sorted(both)}")
    parts = [HEADER, f"\nexport type ProtocolVersion = {PROTOCOL_VERSION};\n"]
    for name, alias in ALIASES.items():
        parts.append(f"export type {name} = {' | '.join(_literal(v) for v in get_args(alias))};\n")

    parts.append("\n// -- What the page sends -------------------------------------------------------------\n\n")
    for name, tp in sent.items():
        if name == "JobStartParams":
            continue
        parts.append(_interface(tp, sent_by_page=True) + "\n")
    parts.append(_jsdoc(messages.JobStartParams.__doc__ or "")
                 + "export interface JobStartParams<K extends JobKind = JobKind> {\n"
                 "  kind: K;\n  params: JobKinds[K][\"params\"];\n  locale?: Locale | null;\n}\n\n")

    parts.append("// -- What the agent sends --------------------------------------------------------------\n\n")
    for tp in received.values():
        parts.append(_interface(tp, sent_by_page=False) + "\n")
    parts.append(REPORT_TYPES.lstrip("\n") + "\n")

    parts.append("// -- Methods, job kinds, notifications -------------------------------------------------\n\n")
    parts.append(_table(
        "/** Every method the agent answers: its params and its result. */\nexport interface Methods",
        {m.name: (m.summary, ts_type(m.params), ts_type(m.result), None) for m in METHODS.values()},
    ) + "\n")
    parts.append(_table(
        "/** Every job kind: what `jobs.start` takes in `params`, the snapshot's `result` once it"
        " succeeded, and the error codes it is documented to give (the failed job's `error.code`, or a"
        " file's). */\nexport interface JobKinds",
        {k.name: (k.summary, ts_type(k.params), ts_type(k.result), _kind_errors(k.name)) for k in KINDS.values()},
    ) + "\n")
    parts.append("export type MethodName = keyof Methods;\nexport type JobKind = keyof JobKinds;\n")
    parts.append("/** Optional features an agent announces in `capabilities` (PROTOCOL.md \"Versioning\"). */\n"
                 "export interface Features {\n")
    for flag, meaning in FEATURES.items():
        parts.append(_jsdoc(meaning, "  ") + f"  {_literal(flag)}: true;\n")
    parts.append("}\nexport type Feature = keyof Features;\n")
    parts.append("/** What `agent.hello` lists in `capabilities`: methods, `job:<kind>` and features. An agent of a\n"
                 " *  later revision may list more: test for what you need, ignore the rest. */\n"
                 "export type Capability = MethodName | `job:${JobKind}` | Feature | (string & {});\n\n")
    parts.append("/** Notifications the agent sends (JSON-RPC requests without `id`). */\nexport interface Notifications {\n")
    for name, tp in NOTIFICATIONS.items():
        parts.append(f"  {_literal(name)}: {ts_type(tp)};\n")
    parts.append("}\n\n")

    parts.append("// -- Errors ----------------------------------------------------------------------------\n\n")
    parts.append("/** The stable codes (`error.data.code` of a JSON-RPC error, `error.code` of a failed job) and\n"
                 " *  their JSON-RPC `error.code`. Pages branch on the stable code only. */\nexport interface ErrorCodes {\n")
    for code, info in ERRORS.items():
        parts.append(_jsdoc(f"{info.fr} / {info.en}", "  "))
        parts.append(f"  {code.value}: {info.rpc_code};\n")
    parts.append("}\nexport type ErrorCode = keyof ErrorCodes;\n\n")
    parts.append(
        "/** A JSON-RPC 2.0 error as the agent sends it: `message` in the connection's language. */\n"
        "export interface RpcError {\n  code: number;\n  message: string;\n"
        "  data: { code: ErrorCode; [detail: string]: unknown };\n}\n"
    )
    return "".join(parts)
