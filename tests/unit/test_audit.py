"""The audit journal (agent.audit): the chain, and each kind of tampering found at the right entry."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from agent.audit import GENESIS, AuditLog, canonical, record_hash
from agent.consent import PolicyConsent
from agent.fsutil import atomic_output
from agent.pairing import Pairings, PreapprovedSite
from bridge_protocol.errors import ProtocolError
from tests.support.agent_process import ROOT


def _journal(tmp_path: Path, count: int = 5) -> AuditLog:
    journal = AuditLog(tmp_path / "audit")
    for index in range(1, count + 1):
        journal.append({"action": "sign", "origin": "https://marches.example.fr", "job": f"job{index}",
                        "result": "succeeded", "error": None,
                        "inputs": [{"name": f"offre {index}.pdf", "sha256": "ab" * 32}], "outputs": [],
                        "certificate": {"subject": "CN=Jeanne TITULAIRE,O=ENTREPRISE", "sha256": "cd" * 32}})
    return journal


def _lines(journal: AuditLog) -> list[bytes]:
    return journal.path.read_bytes().splitlines(keepends=True)


def _write(journal: AuditLog, lines: list[bytes]) -> None:
    journal.path.write_bytes(b"".join(lines))


def test_the_chain_is_as_documented_and_verifies(tmp_path: Path) -> None:
    journal = _journal(tmp_path)
    lines = _lines(journal)
    assert len(lines) == 5
    prev = GENESIS
    for seq, raw in enumerate(lines, 1):
        assert raw.endswith(b"\n")
        record = json.loads(raw)
        assert record["seq"] == seq and record["prev"] == prev
        # hash = SHA-256 of the canonical JSON of the record without "hash"
        without = {k: v for k, v in record.items() if k != "hash"}
        expected = hashlib.sha256(json.dumps(without, sort_keys=True, separators=(",", ":"),
                                             ensure_ascii=False).encode()).hexdigest()
        assert record["hash"] == expected == record_hash(record)
        assert raw[:-1] == canonical(record)  # the line is the canonical form itself
        assert record["time"].endswith("Z") and record["time"][:4].isdigit()
        prev = hashlib.sha256(raw[:-1]).hexdigest()
    result = journal.verify()
    assert result.intact and result.entries == 5 and result.last_digest == prev
    assert result.message() == "Journal intact (5 entrées)"
    assert (journal.path.stat().st_mode & 0o777) == 0o600
    assert (journal.folder.stat().st_mode & 0o777) == 0o700


def test_an_absent_journal_is_intact_and_empty(tmp_path: Path) -> None:
    journal = AuditLog(tmp_path / "audit")
    assert journal.verify().intact and journal.verify().entries == 0
    assert list(journal.entries()) == []
    assert not journal.folder.exists()  # reading creates nothing


def test_one_character_edited_in_a_middle_line(tmp_path: Path) -> None:
    journal = _journal(tmp_path)
    lines = _lines(journal)
    lines[2] = lines[2].replace(b"offre 3.pdf", b"offre 8.pdf")
    _write(journal, lines)
    broken = journal.verify().broken
    assert broken is not None and (broken.seq, broken.line, broken.reason) == (3, 3, "edited")
    assert journal.verify().message() == "Journal altéré à l'entrée 3 : entrée modifiée"
    assert journal.verify().entries == 2


def test_whitespace_added_to_the_last_line_is_an_edit(tmp_path: Path) -> None:
    journal = _journal(tmp_path)
    lines = _lines(journal)
    lines[-1] = lines[-1].replace(b'"seq":5', b'"seq": 5')  # same JSON, other bytes
    _write(journal, lines)
    broken = journal.verify().broken
    assert broken is not None and (broken.seq, broken.reason) == (5, "edited")


def test_a_deleted_line(tmp_path: Path) -> None:
    journal = _journal(tmp_path)
    lines = _lines(journal)
    del lines[2]
    _write(journal, lines)
    broken = journal.verify().broken
    assert broken is not None and (broken.seq, broken.line, broken.reason) == (3, 3, "deleted")
    assert journal.verify().message().startswith("Journal altéré à l'entrée 3 : entrée supprimée")


def test_the_first_line_deleted(tmp_path: Path) -> None:
    journal = _journal(tmp_path)
    _write(journal, _lines(journal)[1:])
    broken = journal.verify().broken
    assert broken is not None and (broken.seq, broken.reason) == (1, "deleted")


def test_two_lines_swapped(tmp_path: Path) -> None:
    journal = _journal(tmp_path)
    lines = _lines(journal)
    lines[1], lines[2] = lines[2], lines[1]
    _write(journal, lines)
    broken = journal.verify().broken
    assert broken is not None and (broken.seq, broken.line, broken.reason) == (2, 2, "reordered")


def test_a_line_moved_far_and_a_duplicated_line(tmp_path: Path) -> None:
    journal = _journal(tmp_path)
    lines = _lines(journal)
    _write(journal, [lines[0], lines[3], lines[1], lines[2], lines[4]])
    broken = journal.verify().broken
    assert broken is not None and (broken.seq, broken.reason) == (2, "reordered")
    _write(journal, [lines[0], lines[1], lines[1], *lines[2:]])
    broken = journal.verify().broken
    assert broken is not None and (broken.seq, broken.reason) == (3, "reordered")


def test_the_last_line_truncated(tmp_path: Path) -> None:
    journal = _journal(tmp_path)
    data = journal.path.read_bytes()
    journal.path.write_bytes(data[:-40])
    broken = journal.verify().broken
    assert broken is not None and (broken.seq, broken.line, broken.reason) == (5, 5, "truncated")
    assert journal.verify().message() == "Journal altéré à l'entrée 5 : dernière entrée tronquée"


def test_a_line_rewritten_with_a_recomputed_hash_breaks_the_next_link(tmp_path: Path) -> None:
    journal = _journal(tmp_path)
    lines = _lines(journal)
    record = json.loads(lines[2])
    record["inputs"][0]["name"] = "autre.pdf"
    record["hash"] = record_hash(record)
    lines[2] = canonical(record) + b"\n"
    _write(journal, lines)
    broken = journal.verify().broken
    assert broken is not None and (broken.seq, broken.reason) == (4, "chain")


def test_appending_after_a_damaged_end_keeps_the_damage_visible(tmp_path: Path) -> None:
    journal = _journal(tmp_path, 3)
    journal.path.write_bytes(journal.path.read_bytes()[:-10])  # a crash in the middle of a write
    record = journal.append({"action": "keygen", "origin": "cli:"})
    assert record["seq"] == 4
    broken = journal.verify().broken
    assert broken is not None and (broken.seq, broken.reason) == (3, "edited")
    assert [e["seq"] for e in journal.entries()] == [1, 2, 4]


def test_threads_and_processes_appending_at_once_keep_one_chain(tmp_path: Path) -> None:
    journal = AuditLog(tmp_path / "audit")
    script = ("import sys; from pathlib import Path; from agent.audit import AuditLog\n"
              "j = AuditLog(Path(sys.argv[1]))\n"
              "for i in range(30): j.append({'action': 'sign', 'origin': 'process', 'n': i})\n")
    procs = [subprocess.Popen([sys.executable, "-c", script, str(journal.folder)], cwd=ROOT) for _ in range(2)]
    threads = [threading.Thread(target=lambda: [journal.append({"action": "decrypt", "n": i}) for i in range(30)])
               for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(p.wait(60) == 0 for p in procs)
    result = journal.verify()
    assert result.intact and result.entries == 150


def test_export_copies_atomically_what_it_verified(tmp_path: Path) -> None:
    journal = _journal(tmp_path)
    copy = tmp_path / "copie" / "audit.jsonl"
    result = journal.export(copy, lambda p: atomic_output(p, mode=0o600))
    assert result.intact and result.entries == 5
    assert copy.read_bytes() == journal.path.read_bytes()
    assert (copy.stat().st_mode & 0o777) == 0o600
    lines = _lines(journal)
    del lines[1]
    _write(journal, lines)
    result = journal.export(copy, lambda p: atomic_output(p, mode=0o600))
    assert result.broken is not None and result.broken.seq == 2
    assert copy.read_bytes() == journal.path.read_bytes()  # copied whole, for examination


def test_a_failing_journal_never_raises_from_record(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    AuditLog(blocker / "audit").record({"action": "sign"})  # logged, not raised


async def _pair(pairings: Pairings, origin: str) -> None:
    """A whole pairing as the page does it (PROTOCOL.md "Pairing"), against ``pairings``."""
    from agent.pairing import ConnectionAuth
    from bridge_protocol import pairing as crypto

    auth = ConnectionAuth()
    commitment = pairings.commit(auth)
    page, page_nonce = crypto.EphemeralKey.generate(), crypto.new_nonce()
    agent_key = await pairings.exchange(auth, origin, page.public, page_nonce, "fr")
    assert auth.pairing is not None
    code, opening = auth.pairing.code, crypto.new_nonce()  # the user reads the code on the agent's screen
    agent_nonce = pairings.reveal(auth, crypto.code_commitment(origin, page.public, agent_key, page_nonce, code, opening))
    assert crypto.commitment(agent_key, agent_nonce) == commitment
    transcript = crypto.transcript(origin, page.public, agent_key, page_nonce, agent_nonce)
    assert crypto.sas(transcript) == code
    key = crypto.derive_key(page.shared(agent_key), origin, page_nonce, agent_nonce)
    proof = pairings.confirm(auth, origin, opening, crypto.page_confirmation(key, transcript, code))
    assert proof == crypto.agent_confirmation(key, transcript, code)


def test_pairing_decisions_are_recorded(tmp_path: Path) -> None:
    journal = AuditLog(tmp_path / "audit")
    approve = Pairings(tmp_path / "pairings.json", (), PolicyConsent(True), journal)
    asyncio.run(_pair(approve, "https://marches.example.fr"))
    assert approve.is_paired("https://marches.example.fr")
    deny = Pairings(tmp_path / "pairings.json", (), PolicyConsent(False), journal)
    with pytest.raises(ProtocolError):
        asyncio.run(_pair(deny, "https://autre.example"))
    assert deny.revoke("https://marches.example.fr")
    assert not deny.revoke("https://marches.example.fr")  # nothing to revoke: nothing recorded
    entries = list(journal.entries())
    assert [(e["action"], e["origin"]) for e in entries] == [
        ("pairing.approved", "https://marches.example.fr"),
        ("pairing.denied", "https://autre.example"),
        ("pairing.revoked", "https://marches.example.fr"),
    ]
    assert journal.verify().intact


def test_a_preapproved_site_is_not_revoked(tmp_path: Path) -> None:
    """The rule lives in Pairings (the console and ``compagnon pairings revoke`` both call it): a
    site the configuration pre-approves keeps its key, and nothing is recorded."""
    journal = AuditLog(tmp_path / "audit")
    site = "https://marches.example.fr"
    pairings = Pairings(tmp_path / "pairings.json", (site,), PolicyConsent(True), journal)
    asyncio.run(_pair(pairings, site))
    with pytest.raises(PreapprovedSite):
        pairings.revoke(site)
    assert pairings.is_paired(site)
    assert [e["action"] for e in journal.entries()] == ["pairing.approved"]


def test_records_are_json_lines_without_raw_control_characters(tmp_path: Path) -> None:
    journal = AuditLog(tmp_path / "audit")
    journal.append({"action": "sign", "inputs": [{"name": "ligne\nsuivante é.pdf"}]})
    (line,) = _lines(journal)
    assert line.count(b"\n") == 1 and "é".encode() in line
    assert os.path.getsize(journal.path) == len(line)
