"""The PES V2 signer's claimed role and production place: required, and remembered per user.

The DGFiP's PES checker reports a signature without a claimed role as "Rôle du signataire :
NON_RENSEIGNE", and the parapheurs always write the role and the place (City, PostalCode,
CountryName; see ``agent.signing.xades``). A PES job therefore needs them: what the caller gives
wins, field by field, over the values this user last signed a PES with, kept in
``state_dir/pes_signer.json`` (0600, in the agent's 0700 per-user state folder; no secret in it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..fsutil import atomic_write_bytes
from ..signing.xades import PES_PLACE_FIELDS, XadesError, missing_pes_fields, normalize_place

MEMORY_FILE = "pes_signer.json"
#: Larger than any role and place; a bigger file is not ours and is ignored.
MAX_MEMORY_SIZE = 16 * 1024


@dataclass(frozen=True)
class PesSigner:
    """Role and production place a PES V2 signature will carry; ``missing`` lists what lacks."""

    claimed_role: str | None
    production_place: dict[str, str] = field(default_factory=dict)

    @property
    def missing(self) -> list[str]:
        return missing_pes_fields(self.claimed_role, self.production_place)


def remembered(state_dir: Path) -> PesSigner:
    """The values last used by this user (empty when none, or when the file is unreadable)."""
    try:
        with (state_dir / MEMORY_FILE).open("rb") as stream:
            raw = stream.read(MAX_MEMORY_SIZE + 1)
        if len(raw) > MAX_MEMORY_SIZE:
            return PesSigner(None, {})
        data = json.loads(raw or b"{}")
        role = data.get("claimed_role") if isinstance(data, dict) else None
        place = data.get("production_place") if isinstance(data, dict) else None
        place = {k: v for k, v in place.items() if k in PES_PLACE_FIELDS and isinstance(v, str)} \
            if isinstance(place, dict) else {}
        return PesSigner((role.strip() or None) if isinstance(role, str) else None, normalize_place(place))
    except (OSError, ValueError, XadesError):
        return PesSigner(None, {})


def resolve(state_dir: Path, claimed_role: str | None, production_place: dict[str, str] | None) -> PesSigner:
    """The caller's values over the remembered ones, field by field (XadesError: unknown place field)."""
    memory = remembered(state_dir)
    given = normalize_place(production_place or {})
    role = (claimed_role or "").strip() or memory.claimed_role
    place = {name: given.get(name) or memory.production_place.get(name, "") for name in PES_PLACE_FIELDS}
    return PesSigner(role, {k: v for k, v in place.items() if v})


def remember(state_dir: Path, signer: PesSigner) -> None:
    """Keep ``signer`` for this user's next PES signature (0600 file, written atomically)."""
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    data = {"claimed_role": signer.claimed_role, "production_place": signer.production_place}
    atomic_write_bytes(state_dir / MEMORY_FILE, json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8"),
                       0o600)
