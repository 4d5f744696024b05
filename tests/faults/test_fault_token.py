"""The token misbehaves: pulled out in the middle of a signing batch, or given a wrong PIN.

A real agent process in a pseudo-terminal (consent code and PIN typed there) signs with keys on
SoftHSM2 tokens made for each test, so the session token of the other tests is left alone.

* Token removed mid-batch (its SoftHSM token deleted while a B-T batch of 60 files signs): the job
  stops with ``TOKEN_REMOVED``; the outputs already committed are complete (each verifies with
  ``openssl cms`` and holds its whole source), the others are gone — no temporary file is left and
  nothing half-written has a final name (promise 9).
* Wrong PIN: the terminal asks it again in the same job, with what the token says about the tries
  left (SoftHSM sets ``CKF_USER_PIN_COUNT_LOW`` after a failed login), while the job stays alive;
  given up, the job fails ``PIN_INCORRECT`` saying so; typed right, the same job signs. The agent
  logs in once per PIN the user typed (it never replays a PIN on its own, PROTOCOL.md section 5):
  counted with the agent's own log of failed logins and, where a C compiler and the p11-kit header
  are there, with a PKCS#11 module built for the test that forwards to SoftHSM and counts
  ``C_Login`` calls; no PIN ever reaches the log.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from cryptography import x509

from bridge_protocol.client import BridgeClient
from tests.faults.terminal import (
    BATCH,
    SlowTsa,
    TerminalAgent,
    assert_only_complete_outputs,
    batch_sources,
    certificate_id,
    configure,
    final_files,
    follow_until,
    hidden_files,
    sign_batch,
    step_progress,
    step_states,
)
from tests.integration.test_sign_job import upload
from tests.support.pki import TestPki
from tests.support.softhsm import ProvisionedToken, SoftHsm

ORIGIN = "https://marches.example.fr"


def make_token(hsm: SoftHsm, pki: TestPki, label: str) -> None:
    """A token with the qualified signing key, its certificate and the issuing CA's certificate."""
    if label in hsm.run("--show-slots"):
        hsm.delete_token(label)
    hsm.init_token(label)
    hsm.import_certificate(label, x509.load_pem_x509_certificate(pki.intermediate_pem.read_bytes()),
                           "Compagnon Test Qualified CA", b"")
    hsm.import_key(label, pki.key_pem("qualified"), "qualified", b"\x01")
    hsm.import_certificate(label, x509.load_pem_x509_certificate(pki.cert_pem("qualified").read_bytes()),
                           "qualified", b"\x01")


def on_token(label: str) -> Callable[[dict], bool]:
    return lambda source: source["kind"] == "pkcs11" and source["label"].startswith(label + " (")


# -- removed in the middle of a batch -------------------------------------------------------------


async def test_token_removed_in_the_middle_of_a_signing_batch(
    tmp_path: Path, test_pki: TestPki, token: ProvisionedToken, slow_tsa: SlowTsa,
    terminal_agents: Callable[..., TerminalAgent]
) -> None:
    label = "Jeton Faute Retrait"
    make_token(token.hsm, test_pki, label)
    home = tmp_path / "home"
    out_dir = configure(home, ORIGIN, test_pki, token=token, tsa_url=slow_tsa.url)
    agent = terminal_agents(home)
    sources = batch_sources()
    try:
        async with await BridgeClient.connect(ORIGIN, ports=[agent.port]) as client:
            cert = await certificate_id(client, agent, "signing", "Jeanne TITULAIRE", on_token(label))
            job = await sign_batch(client, agent, sources, cert, token.pin)
            at_removal = await follow_until(client, job["id"], lambda s: step_states(s)["sign"] == "running"
                                            and step_progress(s, "sign") >= 45)
            await asyncio.to_thread(token.hsm.delete_token, label)  # pulled out
            final = await client.wait_job(job["id"], timeout=60)
    finally:
        if label in token.hsm.run("--show-slots"):
            token.hsm.delete_token(label)
    assert step_progress(at_removal, "sign") < 90
    assert final["state"] == "failed", final
    assert final["error"]["code"] == "TOKEN_REMOVED", final["error"]
    assert step_states(final)["sign"] == "failed"

    finished = assert_only_complete_outputs(out_dir, sources, test_pki)
    assert 0 < len(finished) < BATCH, len(finished)  # the committed outputs are kept; the batch stopped
    assert hidden_files(out_dir) == []  # those not yet committed were removed, not left behind


# -- a wrong PIN, twice -----------------------------------------------------------------------------

COUNTER_C = r"""
/* A PKCS#11 module that forwards every call to SoftHSM and appends one line per C_Login to a log
   (the user type and the return value; never the PIN). */
#include <dlfcn.h>
#include <stdio.h>
#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST counted;
static CK_FUNCTION_LIST_PTR real;

static CK_RV counting_login(CK_SESSION_HANDLE session, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG len) {
    CK_RV rv = real->C_Login(session, user, pin, len);
    FILE *log = fopen(LOGIN_LOG, "a");
    if (log) { fprintf(log, "C_Login user=%lu rv=0x%lx\n", (unsigned long)user, (unsigned long)rv); fclose(log); }
    return rv;
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list) {
    if (!real) {
        void *module = dlopen(REAL_MODULE, RTLD_NOW | RTLD_LOCAL);
        CK_C_GetFunctionList get;
        if (!module || !(get = (CK_C_GetFunctionList)dlsym(module, "C_GetFunctionList"))) return CKR_GENERAL_ERROR;
        CK_RV rv = get(&real);
        if (rv != CKR_OK) return rv;
        counted = *real;
        counted.C_Login = counting_login;
        counted.C_GetFunctionList = C_GetFunctionList;
    }
    *list = &counted;
    return CKR_OK;
}
"""


def login_counter(folder: Path, hsm: SoftHsm) -> tuple[Path, Path] | None:
    """(module, its log): SoftHSM behind a module that counts C_Login. It loads its own copy of
    the SoftHSM library, so its sessions and logins are its own in the agent process. None without
    a C compiler or the p11-kit header (libp11-kit-dev): then only the agent's log counts."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    header = Path("/usr/include/p11-kit-1/p11-kit/pkcs11.h")
    if compiler is None or not header.exists():
        return None
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / "libsofthsm2-copie.so"
    shutil.copy(hsm.module, copy)
    log = folder / "c_login.log"
    source = folder / "compteur.c"
    source.write_text(COUNTER_C)
    module = folder / "libcompteur-pkcs11.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-O1", "-I/usr/include/p11-kit-1", f'-DREAL_MODULE="{copy}"',
                    f'-DLOGIN_LOG="{log}"', "-o", str(module), str(source), "-ldl"], check=True, capture_output=True)
    return module, log


async def test_a_wrong_pin_is_asked_again_in_the_same_job_with_the_tries_the_token_reports(
    tmp_path: Path, test_pki: TestPki, token: ProvisionedToken, terminal_agents: Callable[..., TerminalAgent]
) -> None:
    label = "Jeton Faute PIN"
    make_token(token.hsm, test_pki, label)
    counter = login_counter(tmp_path / "compteur", token.hsm)
    module, logins = counter if counter is not None else (token.hsm.module, None)
    home = tmp_path / "home"
    out_dir = configure(home, ORIGIN, test_pki, token=token)
    config = home / ".config" / "compagnon" / "config.toml"
    config.write_text(config.read_text().replace(f'pkcs11_modules = ["{token.hsm.module}"]',
                                                 f'pkcs11_modules = ["{module}"]'))
    agent = terminal_agents(home)
    child = agent.child
    assert child is not None

    def login_lines() -> list[str]:
        return logins.read_text().splitlines() if logins is not None and logins.exists() else []

    async def retry_prompt() -> str:
        """The second chance in the terminal: what it says above the PIN field."""
        await asyncio.to_thread(child.expect, "nouvel essai du code PIN")
        await asyncio.to_thread(child.expect, r"Entrée seule pour abandonner\) : ")
        return str(child.before)

    try:
        async with await BridgeClient.connect(ORIGIN, ports=[agent.port]) as client:
            cert = await certificate_id(client, agent, "signing", "Jeanne TITULAIRE",
                                        lambda s: on_token(label)(s) and module.name in s["label"])
            handle = await upload(client, "offre.pdf", b"%PDF-1.4 offre " * 100)
            params = {"files": [{"handle": handle, "format": "cades"}], "certificate": cert}

            # 1. A wrong PIN, then the user gives up at the second chance: the job fails with the
            #    token's word on the tries left; one C_Login, refused (CKR_PIN_INCORRECT = 0xa0).
            job = await client.start_job("sign", params)
            await agent.consent("000000")
            notice = await retry_prompt()
            assert "Code PIN ou mot de passe incorrect." in notice and "peu d'essais" in notice, notice
            waiting = await client.call("jobs.get", {"id": job["id"]})
            assert waiting["state"] == "running", waiting  # the job stays alive while the user types
            assert waiting["message"] == "Code PIN incorrect : saisissez-le à nouveau dans Compagnon."
            child.sendline("")
            gave_up = await client.wait_job(job["id"], timeout=60)
            if logins is not None:
                assert login_lines() == ["C_Login user=1 rv=0xa0"], login_lines()
            # What the token says: few tries left (SoftHSM never locks; real cards count down).
            flags = token_flags(token.hsm, label)
            assert "USER_PIN_COUNT_LOW" in flags and "USER_PIN_LOCKED" not in flags, flags

            # 2. A wrong PIN, then the right one in the same job: it signs.
            job = await client.start_job("sign", params)
            await agent.consent("123456")
            notice = await retry_prompt()
            assert "peu d'essais" in notice, notice
            child.sendline(token.pin)
            good = await client.wait_job(job["id"], timeout=60)
    finally:
        token.hsm.delete_token(label)
    assert gave_up["state"] == "failed" and gave_up["error"]["code"] == "PIN_INCORRECT", gave_up
    assert step_states(gave_up)["consent"] == "failed" and step_states(gave_up)["sign"] == "pending"
    assert "peu d'essais" in gave_up["error"]["message"], gave_up["error"]  # CKF_USER_PIN_COUNT_LOW, told
    assert good["state"] == "succeeded", good
    if logins is not None:  # one C_Login per PIN the user typed, never one of the agent's own
        assert login_lines() == ["C_Login user=1 rv=0xa0"] * 2 + ["C_Login user=1 rv=0x0"], login_lines()
    # The agent's own log has one failed login per wrong PIN, and never the PIN itself.
    text = agent.log_file.read_text()
    assert text.count(f"wrong PIN for token {label!r}") == 2
    assert "000000" not in text and "123456" not in text and token.pin not in text
    assert len(final_files(out_dir)) == 1  # only the good job signed anything


def token_flags(hsm: SoftHsm, label: str) -> set[str]:
    """The token's flags as ``pkcs11-tool``-like names, read in a child process (the test process's
    own SoftHSM state must not mask what is on disk)."""
    code = (
        "import sys, pkcs11\n"
        "lib = pkcs11.lib(sys.argv[1])\n"
        "token = lib.get_token(token_label=sys.argv[2])\n"
        "print(' '.join(f.name for f in pkcs11.TokenFlag if f and f in token.flags))\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(hsm.module), label], capture_output=True, text=True,
                            env={**os.environ, "SOFTHSM2_CONF": str(hsm.conf)}, check=True)
    return set(result.stdout.split())

