"""What an agent announces in ``agent.hello``'s ``capabilities`` (PROTOCOL.md "Versioning").

Three families: the methods beyond hello (``certificates.list``, ``files.pick``...), one
``job:<kind>`` per job kind, and one flag per optional feature of a kind or of the protocol,
``<scope>:<feature>``. Within protocol 1 every addition a page could depend on comes with a flag
here, so that a page tests the flag instead of comparing version numbers; a flag, once published,
keeps its meaning.
"""

from __future__ import annotations

from collections.abc import Iterable

#: Methods an agent announces (``agent.hello`` itself is always there).
METHOD_CAPABILITIES: tuple[str, ...] = (
    "agent.pair", "agent.auth", "certificates.list", "files.pick", "files.put", "files.get",
)

#: Optional features: flag -> what a page may rely on when the agent announces it.
FEATURES: dict[str, str] = {
    "hello:min_version": "agent.hello takes `min_version` and answers `update_required` and `update_available`.",
    "hello:consent_timeout": "agent.hello answers `consent_timeout`: how long the calls that wait for the user may take.",
    "jobs:subject": "Job snapshots carry `subject` (the consultation a bids.download or bids.open is for).",
    "sign:upload": "sign POSTs each signed output to `upload_url` (PLATFORM.md section 9).",
    "verify:files": "verify takes `files`: several files, one report with its `summary`.",
    "encrypt:upload": "encrypt POSTs each sealed file to `upload_url` (PLATFORM.md section 6).",
    "encrypt:receipt": "encrypt reads the platform's deposit receipt and keeps it in its result.",
    "keygen:register": "keygen POSTs the new certificate to `register_url` (PLATFORM.md section 9).",
    "bids.open:upload": "bids.open sends each opened file to the descriptor's `result_url`.",
    "open:analyse": "bids.open and decrypt check each opened file's signatures in the same job: each file's "
                    "`signature` (verdict, signers, report handle); bids.open sends the verdict with the file.",
}


def agent_capabilities(kinds: Iterable[str]) -> list[str]:
    """The ``capabilities`` of an agent that runs ``kinds``: methods, ``job:<kind>``, features."""
    return [*METHOD_CAPABILITIES, *(f"job:{name}" for name in kinds), *FEATURES]
