"""certificates.list over the bridge and ``compagnon certs``, with the session SoftHSM token."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from bridge_protocol.client import BridgeClient, BridgeError
from bridge_protocol.documents import json_schema_document
from tests.support.agent_process import ROOT, AgentProcess, free_port, isolated_env, write_config
from tests.support.pairing import seed_pairing
from tests.support.pki import TestPki
from tests.support.platform_server import PlatformServer
from tests.support.softhsm import ProvisionedToken


def keystore_config(pki: TestPki, token: ProvisionedToken) -> str:
    return (
        f'\n[keystores]\npkcs11_modules = ["{token.hsm.module}"]\n'
        f'\n[trust]\nroots = ["{pki.root_pem}"]\nsystem = false\n'
    )


async def test_certificates_list_gives_facts_and_never_keys(
    home: Path, platform: PlatformServer, test_pki: TestPki, token: ProvisionedToken
) -> None:
    write_config(home, allowed=[platform.origin], extra=keystore_config(test_pki, token))
    agent = AgentProcess(home, free_port()).start()
    try:
        async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as client:
            hello = await client.hello()
            assert "certificates.list" in hello["capabilities"]
            answer = await client.call("certificates.list", {"purpose": "signing"})
            raw = json.dumps(answer)
    finally:
        agent.stop()
    schema = json_schema_document()
    jsonschema.Draft202012Validator({"$ref": "#/$defs/CertificatesListResult", "$defs": schema["$defs"]}).validate(answer)
    by_subject = {c["subject"]: c for c in answer["certificates"]}
    assert by_subject["Jeanne TITULAIRE"]["suitable"] is True
    assert by_subject["Paul SIMPLE"]["reasons"][-1] == "pas de nonRepudiation"
    assert answer["certificates"][0]["suitable"] is True  # suitable ones first
    assert "PRIVATE" not in raw and "BEGIN" not in raw


async def test_certificate_list_needs_consent(home: Path, platform: PlatformServer, test_pki: TestPki, token: ProvisionedToken) -> None:
    write_config(home, allowed=[platform.origin], preapproved=[platform.origin], consent="deny",
                 extra=keystore_config(test_pki, token))
    seed_pairing(home, platform.origin)  # paired earlier: this test is about the list's consent
    agent = AgentProcess(home, free_port()).start()
    try:
        async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as client:
            with pytest.raises(BridgeError) as err:
                await client.call("certificates.list", {"purpose": "signing"})
            assert err.value.code == "USER_CANCELLED"
            with pytest.raises(BridgeError) as err:
                await client.call("certificates.list", {"purpose": "everything"})
            assert err.value.code == "INVALID_PARAMS"
    finally:
        agent.stop()


def _certs(home: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent", "certs", *args], cwd=ROOT, env=isolated_env(home),
                          input=stdin, capture_output=True, text=True, timeout=60)


def test_certs_command_prints_label_and_reasons(home: Path, test_pki: TestPki, token: ProvisionedToken) -> None:
    result = _certs(home, "--pkcs11", str(token.hsm.module), "--trust", str(test_pki.root_pem))
    assert result.returncode == 0, result.stderr
    assert "[adapté] Jeanne TITULAIRE — ENTREPRISE EXEMPLE (SIREN 123456789)" in result.stdout
    assert "[non adapté] Paul SIMPLE" in result.stdout
    assert "    - pas de nonRepudiation" in result.stdout


def test_certs_command_opens_a_pkcs12_with_the_password_on_stdin(home: Path, test_pki: TestPki) -> None:
    p12 = test_pki.p12("expired", "secret")
    result = _certs(home, "--p12", str(p12), "--pin-stdin", "--trust", str(test_pki.root_pem), "--json", stdin="secret\n")
    assert result.returncode == 0, result.stderr
    (info,) = [c for c in json.loads(result.stdout) if c["source"]["kind"] == "pkcs12"]
    assert info["subject"] == "Ancien EXPIRE" and info["reasons"] == ["expiré le 14/06/2022"]
    wrong = _certs(home, "--p12", str(p12), "--pin-stdin", stdin="nope\n")
    assert wrong.returncode == 1 and "PIN_INCORRECT" in wrong.stderr
    assert "nope" not in wrong.stderr + wrong.stdout
