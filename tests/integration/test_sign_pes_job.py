"""PES V2 flows through the ``sign`` job and the command line: role and place required and
remembered per user, shown in the consent; a folder of flows signed in one job ("bordereau 3 sur 5");
every Bordereau signature checked by xmlsec1 and against the profile."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

from lxml import etree

from agent.consent import ConsentDecision, ConsentRequest, PolicyConsent, Secret
from agent.keystores.pkcs12_store import Pkcs12FileStore
from agent.signing.base import SigningKey
from tests.integration.test_sign_xades import PES_PLACE, assert_valid, check_pes_profile, pes_verify, signatures
from tests.support import xml_samples
from tests.support.agent_process import ROOT, isolated_env
from tests.support.pki import TestPki

PES_OPTIONS = ("--role", "Ordonnateur", "--city", "Montpellier", "--postal-code", "34000", "--country", "France")


class _Recording(PolicyConsent):
    """Approves with the PKCS#12 password and keeps every request (what the user would see)."""

    def __init__(self) -> None:
        super().__init__(True)
        self.requests: list[ConsentRequest] = []

    async def ask(self, request: ConsentRequest) -> ConsentDecision:
        self.requests.append(request)
        return ConsentDecision(True, Secret("pw"))


def _manager(tmp_path: Path, test_pki: TestPki, state: Path) -> tuple[Any, _Recording, str]:
    from agent.config import Settings
    from agent.jobs.context import JobServices
    from agent.jobs.manager import JobManager
    from agent.keystores.registry import KeyStoreRegistry
    from agent.kinds.registry import KINDS, platform_client

    store = Pkcs12FileStore(test_pki.p12("qualified", "pw"))
    (key,) = store.unlock(Secret("pw"))
    settings = Settings(state_dir=state, log_dir=tmp_path / "log", trust_system=False, pkcs11_modules=())
    consent = _Recording()
    manager = JobManager(JobServices(settings=settings, consent=consent,
                                     keystores=KeyStoreRegistry(settings, p12=[store], discover=False), local=True),
                         kinds=KINDS, platform_client=platform_client)
    return manager, consent, key.id


def _flows(folder: Path) -> list[Path]:
    folder.mkdir(exist_ok=True)
    first, second = folder / "PESALR2_a.xml", folder / "PESALR2_b.xml"
    first.write_bytes(xml_samples.pes_aller(("BORD-A1", "BORD-A2", "BORD-A3")))
    second.write_bytes(xml_samples.pes_aller(("BORD-B1", "BORD-B2")))
    return [first, second]


def _key(test_pki: TestPki) -> SigningKey:
    store = Pkcs12FileStore(test_pki.p12("qualified", "pw"))
    session = store.open(Secret("pw"))
    return SigningKey.from_session(session, store.keys()[0])


async def test_pes_batch_one_consent_bordereaux_counted_values_remembered(tmp_path: Path, test_pki: TestPki) -> None:
    state = tmp_path / "state"
    manager, consent, cert = _manager(tmp_path, test_pki, state)
    currents: list[dict[str, Any]] = []
    manager.add_listener(lambda origin, snapshot: currents.append(dict(snapshot["current"] or {})))
    flows = _flows(tmp_path / "flux")
    job = manager.start("cli:", "sign", {
        "files": [{"path": str(p), "format": "xades", "pes": True} for p in flows], "certificate": cert,
        "claimed_role": "Ordonnateur", "production_place": {"city": "Montpellier", "PostalCode": "34000",
                                                            "CountryName": "France"},
        "out_dir": str(tmp_path / "signés")})
    final = (await manager.wait(job.id)).snapshot()
    assert final["state"] == "succeeded", final
    assert final["result"]["signed"] == 2
    (request,) = consent.requests  # one consent, one PIN for the folder
    assert "Ordonnateur" in request.summary and "Montpellier (34000), France" in request.summary
    assert [f.name for f in request.files] == ["PESALR2_a.xml", "PESALR2_b.xml"]
    bordereaux = [c for c in currents if c.get("label") == "bordereau"]
    assert bordereaux and {c["total"] for c in bordereaux} == {5}
    # Published snapshots are coalesced: the counter only goes up, to the last bordereau.
    assert bordereaux[-1] == {"label": "bordereau", "index": 5, "total": 5}
    assert [c["index"] for c in bordereaux] == sorted(c["index"] for c in bordereaux)
    key = _key(test_pki)
    for item, ids in zip(final["result"]["files"], (("BORD-A1", "BORD-A2", "BORD-A3"), ("BORD-B1", "BORD-B2")),
                         strict=True):
        output = tmp_path / "signés" / item["output"]
        sigs = signatures(output)
        assert [s.getparent().get("Id") for s in sigs] == list(ids)
        for signature in sigs:
            check_pes_profile(signature, key, f"#{signature.getparent().get('Id')}")
            assert_valid(pes_verify(output, test_pki, signature.get("Id")))
    memory = state / "pes_signer.json"
    assert stat.S_IMODE(memory.stat().st_mode) == 0o600
    assert json.loads(memory.read_text("utf-8")) == {"claimed_role": "Ordonnateur", "production_place": PES_PLACE}

    # Next time the same user signs a flow, the remembered values are used (and shown again).
    again = manager.start("cli:", "sign", {"files": [{"path": str(flows[1]), "format": "xades", "pes": True}],
                                           "certificate": cert, "out_dir": str(tmp_path / "encore")})
    final = (await manager.wait(again.id)).snapshot()
    assert final["state"] == "succeeded", final
    assert "Ordonnateur" in consent.requests[-1].summary
    (signed,) = (tmp_path / "encore").iterdir()
    assert {s.findtext(".//{*}ClaimedRole") for s in signatures(signed)} == {"Ordonnateur"}

    # Another user (another state folder) has nothing remembered: the job says what is missing.
    other, other_consent, cert = _manager(tmp_path, test_pki, tmp_path / "autre")
    refused = other.start("cli:", "sign", {"files": [{"path": str(flows[0]), "format": "xades", "pes": True}],
                                           "certificate": cert, "production_place": {"City": "Sète"}})
    final = (await other.wait(refused.id)).snapshot()
    assert final["state"] == "failed" and final["error"]["code"] == "INVALID_PARAMS"
    assert "rôle du signataire, code postal, pays" in final["error"]["message"]
    assert other_consent.requests == []  # refused before the user is asked anything
    bad = other.start("cli:", "sign", {"files": [{"path": str(flows[0]), "format": "xades", "pes": True}],
                                       "certificate": cert, "claimed_role": "Ordonnateur",
                                       "production_place": {"Ville": "Sète"}})
    final = (await other.wait(bad.id)).snapshot()
    assert final["state"] == "failed" and final["error"]["code"] == "INVALID_PARAMS"
    assert "Ville" in final["error"]["message"]


def test_cli_signs_a_folder_of_pes_flows(tmp_path: Path, test_pki: TestPki) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = isolated_env(home)
    p12 = test_pki.p12("qualified", "pw")
    folder = tmp_path / "flux"
    flows = _flows(folder)
    (folder / "notes.txt").write_text("pas un flux")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "agent", "sign", *args, "--format", "xades", "--pes",
                               "--p12", str(p12), "--pin-stdin"], cwd=ROOT, env=env, input="pw\n",
                              capture_output=True, text=True, timeout=180)

    missing = run(str(flows[0]), "--out-dir", str(tmp_path / "rien"))
    assert missing.returncode != 0 and "INVALID_PARAMS" in missing.stderr and "rôle du signataire" in missing.stderr
    assert not (tmp_path / "rien").exists()
    result = run(str(folder), *PES_OPTIONS, "--out-dir", str(tmp_path / "signés"))
    assert result.returncode == 0, result.stderr
    outputs = sorted((tmp_path / "signés").iterdir())
    assert [o.name.split(" - ")[0] for o in outputs] == ["PESALR2_a", "PESALR2_b"]
    key = _key(test_pki)
    for output in outputs:
        for signature in signatures(output):
            check_pes_profile(signature, key, f"#{signature.getparent().get('Id')}")
            assert_valid(pes_verify(output, test_pki, signature.get("Id")))
    # The values were remembered for this user: the next run needs no option.
    again = run(str(flows[1]), "--out-dir", str(tmp_path / "encore"))
    assert again.returncode == 0, again.stderr
    (signed,) = (tmp_path / "encore").iterdir()
    place = etree.parse(str(signed)).find(".//{*}SignatureProductionPlace")
    assert [(etree.QName(e).localname, e.text) for e in place] == list(PES_PLACE.items())
