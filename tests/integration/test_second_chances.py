"""Second chances: a wrong PIN is asked again within the same job, in the UI that took the consent,
with the tries left as the SoftHSM2 token reports them (``CKF_USER_PIN_COUNT_LOW``); a new
password is typed twice, its rule told before typing, and asked again while the entries differ;
a prompt whose job went away is withdrawn visibly, and a line typed afterwards is answered "no
request waiting" instead of being kept as the answer to the next prompt.

Real parts: a SoftHSM2 token made for these tests (the session token's PIN counter is left
alone), envelopes sealed by ``openssl cms -encrypt``, the terminal prompt reading a real pipe, the
console's prompts, the command line in a subprocess. The terminal of ``compagnon serve`` with a
token is also tested in tests/faults/test_fault_token.py, and the page's side in
tests/browser/test_buyer_flow.py.
"""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from agent.config import Settings
from agent.consent import ConsentRequest, FileSummary, Secret
from agent.consent.terminal import TerminalConsent
from agent.desktop.consent import AnswerError, ConsoleConsent
from agent.desktop.dialogs import NativeConsent, consent_view
from agent.jobs.context import JobServices
from agent.jobs.manager import JobManager
from agent.keystores.registry import KeyStoreRegistry
from agent.kinds.registry import KINDS, platform_client
from bridge_protocol.errors import ErrorCode, ProtocolError
from tests.integration.test_native_dialogs import CONSENT_TITLE, display, screen  # noqa: F401  (fixtures)
from tests.support.agent_process import ROOT, isolated_env
from tests.support.display import XDoTool
from tests.support.pki import TestPki
from tests.support.softhsm import USER_PIN, SoftHsm

LABEL = "Jeton Second Essai"
SECRET_TEXT = b"Offre de prix, lot 2 : 125 000 EUR\n" * 100


@pytest.fixture
def token(softhsm: SoftHsm, test_pki: TestPki) -> Iterator[str]:
    """A token of its own with the encryption key: its PIN counter is this test's alone."""
    if LABEL in softhsm.run("--show-slots"):
        softhsm.delete_token(LABEL)
    softhsm.init_token(LABEL)
    softhsm.import_key(LABEL, test_pki.key_pem("encryption"), "encryption", b"\x05")
    softhsm.import_certificate(LABEL, x509.load_pem_x509_certificate(test_pki.cert_pem("encryption").read_bytes()),
                               "encryption", b"\x05")
    yield LABEL
    softhsm.delete_token(LABEL)


def sealed(tmp_path: Path, pki: TestPki) -> Path:
    source = tmp_path / "offre.txt"
    source.write_bytes(SECRET_TEXT)
    target = tmp_path / "offre.txt.p7m"
    subprocess.run(["openssl", "cms", "-encrypt", "-binary", "-outform", "DER", "-aes-256-gcm", "-in", str(source),
                    "-out", str(target), "-recip", str(pki.cert_pem("encryption"))], check=True, capture_output=True)
    source.unlink()
    return target


def console_manager(tmp_path: Path, pki: TestPki, hsm: SoftHsm, consent: ConsoleConsent) -> tuple[JobManager, str]:
    settings = Settings(trust_roots=(pki.root_pem,), trust_system=False, pkcs11_modules=(hsm.module,),
                        p12_dir=tmp_path / "keys", state_dir=tmp_path / "state", log_dir=tmp_path / "log",
                        output_dir=tmp_path / "out")
    registry = KeyStoreRegistry(settings)
    (key_id,) = [key.id for store, key in registry.keys("decryption") if LABEL in store.label]
    return JobManager(JobServices(settings=settings, consent=consent, keystores=registry, local=True),
                      kinds=KINDS, platform_client=platform_client), key_id


async def next_prompt(consent: ConsoleConsent, seen: set[str], timeout: float = 60) -> dict[str, Any]:
    """The next prompt the console shows that was not seen before."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        for prompt in consent.pending():
            if prompt["id"] not in seen:
                seen.add(prompt["id"])
                return prompt
        await asyncio.sleep(0.02)
    raise AssertionError("no prompt")


# -- the console ---------------------------------------------------------------------------------


async def test_the_console_asks_a_wrong_pin_again_in_the_same_job(tmp_path: Path, test_pki: TestPki,
                                                                   softhsm: SoftHsm, token: str) -> None:
    consent = ConsoleConsent(timeout=60)
    manager, key_id = console_manager(tmp_path, test_pki, softhsm, consent)
    envelope = sealed(tmp_path, test_pki)
    seen: set[str] = set()
    params = {"files": [{"path": str(envelope)}], "certificate": key_id, "out_dir": str(tmp_path / "ouverts")}

    # A wrong PIN, then the right one: the same job opens the envelope.
    job = manager.start("cli:", "decrypt", params)
    first = await next_prompt(consent, seen)
    assert first["needs_pin"] and not first["pin_retry"] and first["notice"] is None
    consent.answer(first["id"], True, Secret("000000"))
    retry = await next_prompt(consent, seen)
    assert retry["pin_retry"] and retry["action"] == "decrypt" and retry["files"] == first["files"]
    assert retry["notice"] == ("Code PIN ou mot de passe incorrect. "
                               "Attention : il reste peu d'essais avant le blocage du code PIN.")  # the token's flag
    waiting = manager.get("cli:", job.id)
    assert waiting.state == "running" and waiting.message == "Code PIN incorrect : saisissez-le à nouveau dans Compagnon."
    consent.answer(retry["id"], True, Secret(USER_PIN))
    final = (await manager.wait(job.id)).snapshot()
    assert final["state"] == "succeeded", final["error"]
    assert (tmp_path / "ouverts" / "offre.txt").read_bytes() == SECRET_TEXT

    # A wrong PIN, then "Refuser" at the second chance: the job ends with the token's word.
    job = manager.start("cli:", "decrypt", params)
    consent.answer((await next_prompt(consent, seen))["id"], True, Secret("000000"))
    consent.answer((await next_prompt(consent, seen))["id"], False)
    final = (await manager.wait(job.id)).snapshot()
    assert final["state"] == "failed" and final["error"]["code"] == "PIN_INCORRECT"
    assert "peu d'essais" in final["error"]["message"]

    # The job cancelled while its second chance is on screen: the prompt is withdrawn, and a late
    # answer to it is told so ("gone"), never taken.
    job = manager.start("cli:", "decrypt", params)
    consent.answer((await next_prompt(consent, seen))["id"], True, Secret("000000"))
    retry = await next_prompt(consent, seen)
    manager.cancel("cli:", job.id)
    final = (await manager.wait(job.id)).snapshot()
    assert final["state"] == "cancelled" and consent.pending() == []
    with pytest.raises(AnswerError) as gone:
        consent.answer(retry["id"], True, Secret(USER_PIN))
    assert gone.value.reason == "gone"


async def test_the_console_takes_a_new_password_twice_and_checks_its_rule(tmp_path: Path, test_pki: TestPki,
                                                                          softhsm: SoftHsm, token: str) -> None:
    consent = ConsoleConsent(timeout=60)
    manager, _ = console_manager(tmp_path, test_pki, softhsm, consent)
    job = manager.start("https://marches.example.fr", "keygen", {"name": "Marie ACHETEUSE"})
    prompt = await next_prompt(consent, set())
    assert prompt["new_password"] and prompt["password_min_length"] == 8
    assert prompt["password_rule"] == "8 caractères au moins, à taper deux fois ; il protégera le fichier du bi-clé"
    for pin, confirm, reason in (("court", "court", "password_too_short"),
                                 ("Bi-cle de test 7351", "Bi-cle de test 7315", "password_mismatch"),
                                 ("Bi-cle de test 7351", None, "password_mismatch")):
        with pytest.raises(AnswerError) as refused:
            consent.answer(prompt["id"], True, Secret(pin), Secret(confirm) if confirm else None)
        assert refused.value.reason == reason
        assert [p["id"] for p in consent.pending()] == [prompt["id"]]  # the prompt stays, to be corrected
    consent.answer(prompt["id"], True, Secret("Bi-cle de test 7351"), Secret("Bi-cle de test 7351"))
    final = (await manager.wait(job.id)).snapshot()
    assert final["state"] == "succeeded", final["error"]
    p12 = tmp_path / "keys" / final["result"]["location"]
    opened = subprocess.run(["openssl", "pkcs12", "-in", str(p12), "-nokeys", "-passin", "pass:Bi-cle de test 7351"],
                            capture_output=True, text=True)
    assert opened.returncode == 0, opened.stderr  # the file opens with the password typed twice


# -- the terminal (a real pipe) ------------------------------------------------------------------


class PipeTerminal:
    """``TerminalConsent`` reading a real pipe, its output collected."""

    def __init__(self, timeout: float = 30) -> None:
        read_fd, self.write_fd = os.pipe()
        self.output = io.StringIO()
        self.consent = TerminalConsent(timeout=timeout, input=os.fdopen(read_fd, "r"), output=self.output)

    def type(self, line: str) -> None:
        os.write(self.write_fd, (line + "\n").encode())

    async def shown(self, text: str, timeout: float = 10, times: int = 1) -> str:
        deadline = asyncio.get_running_loop().time() + timeout
        while self.output.getvalue().count(text) < times:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{text!r} not shown in {self.output.getvalue()!r}")
            await asyncio.sleep(0.01)
        return self.output.getvalue()

    def code(self) -> str:
        return self.output.getvalue().rsplit("tapez ", 1)[1][:4]

    def close(self) -> None:
        os.close(self.write_fd)


@pytest.fixture
def terminal() -> Iterator[PipeTerminal]:
    pipe = PipeTerminal()
    yield pipe
    pipe.close()


def decrypt_request(**fields: Any) -> ConsentRequest:
    return ConsentRequest(origin="https://marches.example.fr", action="decrypt", summary="Déchiffrer 1 pli.",
                          files=(FileSummary("offre.txt.p7m", 1234, "ab" * 32),), certificate="Jean DUPONT",
                          needs_pin=True, **fields)


async def test_a_withdrawn_terminal_prompt_says_so_and_a_late_line_answers_nothing(terminal: PipeTerminal) -> None:
    asking = asyncio.create_task(terminal.consent.ask(decrypt_request()))
    await terminal.shown("puis Entrée")
    first_code = terminal.code()
    asking.cancel()  # the job was cancelled
    with pytest.raises(asyncio.CancelledError):
        await asking
    await terminal.shown("(demande retirée : la tâche a été annulée ou n'attend plus de réponse)")
    terminal.type(first_code)  # typed into the prompt that is gone
    await terminal.shown("(aucune demande en attente : ce qui a été tapé n'a été transmis à personne)")

    # The next prompt is not answered by that late line: it waits for its own code.
    asking = asyncio.create_task(terminal.consent.ask(decrypt_request()))
    await terminal.shown("puis Entrée", times=2)
    await asyncio.sleep(0.3)
    assert not asking.done()
    terminal.type(terminal.code())
    await terminal.shown("Code PIN (non affiché) : ")
    terminal.type("482916")
    decision = await asyncio.wait_for(asking, 10)
    assert decision.approved and decision.pin is not None and decision.pin.reveal() == "482916"


async def test_a_timed_out_terminal_prompt_says_so() -> None:
    pipe = PipeTerminal(timeout=0.5)
    try:
        with pytest.raises(ProtocolError) as timed_out:
            await pipe.consent.ask(decrypt_request())
        assert timed_out.value.code is ErrorCode.USER_TIMEOUT
        await pipe.shown("(délai dépassé : refusé)")
        pipe.type("ABCD")
        await pipe.shown("(aucune demande en attente")
    finally:
        pipe.close()


async def test_the_terminal_asks_only_the_pin_again_and_enter_gives_up(terminal: PipeTerminal) -> None:
    notice = "Code PIN ou mot de passe incorrect. Attention : dernier essai avant le blocage du code PIN."
    asking = asyncio.create_task(terminal.consent.ask(decrypt_request(pin_retry=True, notice=notice)))
    shown = await terminal.shown("Entrée seule pour abandonner) : ")
    assert "nouvel essai du code PIN" in shown and notice in shown and "tapez" not in shown  # the consent stands
    terminal.type("482916")
    decision = await asyncio.wait_for(asking, 10)
    assert decision.approved and decision.pin is not None and decision.pin.reveal() == "482916"
    asking = asyncio.create_task(terminal.consent.ask(decrypt_request(pin_retry=True, notice=notice)))
    await terminal.shown("Entrée seule pour abandonner) : ", times=2)
    terminal.type("")
    decision = await asyncio.wait_for(asking, 10)
    assert not decision.approved and decision.pin is None
    await terminal.shown("(abandonné : refusé)")


async def test_the_terminal_tells_the_password_rule_first_and_asks_twice(terminal: PipeTerminal) -> None:
    request = ConsentRequest(origin="https://marches.example.fr", action="keygen", summary="Créer un bi-clé.",
                             needs_pin=True, new_password=True, password_min_length=8,
                             password_rule="8 caractères au moins, à taper deux fois")
    asking = asyncio.create_task(terminal.consent.ask(request))
    shown = await terminal.shown("puis Entrée")
    assert "mot de passe : 8 caractères au moins, à taper deux fois" in shown  # before anything is typed
    terminal.type(terminal.code())
    answers: list[tuple[str, str | None]] = [("court", "Mot de passe trop court (8 caractères au moins) : recommencez."),
                                              ("Bi-cle 7351", None), ("Bi-cle 7315", "Les deux saisies diffèrent"),
                                              ("Bi-cle 7351", None), ("Bi-cle 7351", None)]
    for line, then in answers:
        await asyncio.sleep(0.05)
        terminal.type(line)
        if then:
            await terminal.shown(then)
    decision = await asyncio.wait_for(asking, 10)
    assert decision.approved and decision.pin is not None and decision.pin.reveal() == "Bi-cle 7351"
    out = terminal.output.getvalue()
    assert out.count("Nouveau mot de passe") == 3 and out.count("Confirmez le mot de passe") == 2


# -- the command line ----------------------------------------------------------------------------


def test_the_command_line_reads_the_pin_again_after_a_wrong_one(tmp_path: Path, test_pki: TestPki,
                                                                 softhsm: SoftHsm, token: str) -> None:
    envelope = sealed(tmp_path, test_pki)
    home = tmp_path / "home"
    home.mkdir()
    run: Callable[[str], subprocess.CompletedProcess[str]] = lambda stdin: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "agent", "decrypt", str(envelope), "--pkcs11", str(softhsm.module), "--token", LABEL,
         "--key", "encryption", "--pin-stdin", "--out-dir", str(tmp_path / "ouverts")],
        cwd=ROOT, env=isolated_env(home), input=stdin, capture_output=True, text=True, timeout=180)
    result = run(f"000000\n{USER_PIN}\n")
    assert result.returncode == 0, result.stderr
    assert "compagnon : Code PIN ou mot de passe incorrect." in result.stderr and "peu d'essais" in result.stderr
    assert (tmp_path / "ouverts" / "offre.txt").read_bytes() == SECRET_TEXT
    # No second line: nothing else to try, the wrong PIN's error ends the command.
    given_up = run("000000\n")
    assert given_up.returncode == 1 and "PIN_INCORRECT" in given_up.stderr
    assert USER_PIN not in result.stdout + result.stderr


# -- the native window (Xvfb, real keystrokes) ---------------------------------------------------


def test_the_native_window_says_why_the_pin_is_asked_again() -> None:
    notice = "Code PIN ou mot de passe incorrect. Attention : il reste peu d'essais avant le blocage du code PIN."
    view = consent_view(decrypt_request(pin_retry=True, notice=notice), "fr", 30)
    assert (view["question"], view["notice"], view["pin_label"]) == ("Nouvel essai du code PIN", notice, "Code PIN")
    keygen = consent_view(ConsentRequest(origin="https://marches.example.fr", action="keygen", summary="Créer.",
                                         needs_pin=True, new_password=True, password_min_length=8,
                                         password_rule="8 caractères au moins"), "en", 30)
    assert (keygen["pin_label"], keygen["confirm_label"]) == ("New password", "Confirm the password")
    assert keygen["password_rule"] == "Password: 8 caractères au moins."


async def test_the_native_window_takes_a_new_password_twice(screen: XDoTool) -> None:  # noqa: F811
    consent = NativeConsent(timeout=30, locale="fr")
    request = ConsentRequest(origin="https://marches.example.fr", action="keygen", summary="Créer un bi-clé.",
                             needs_pin=True, new_password=True, password_min_length=8,
                             password_rule="8 caractères au moins, à taper deux fois")
    asking = asyncio.create_task(consent.ask(request))
    await asyncio.to_thread(screen.wait_window, CONSENT_TITLE)
    await asyncio.to_thread(screen.type, "Bi-cle 7351")
    await asyncio.to_thread(screen.key, "Tab")
    await asyncio.to_thread(screen.type, "Bi-cle 7315")
    await asyncio.to_thread(screen.key, "Return")  # they differ: the window stays and asks again
    await asyncio.sleep(0.8)
    assert not asking.done() and screen.windows(CONSENT_TITLE)
    await asyncio.to_thread(screen.type, "Bi-cle 7351")
    await asyncio.to_thread(screen.key, "Return")
    decision = await asyncio.wait_for(asking, 20)
    assert decision.approved and decision.pin is not None and decision.pin.reveal() == "Bi-cle 7351"


# -- a token that locks, as a smart card does ----------------------------------------------------

CARD_C = r"""
/* A PKCS#11 module that forwards to SoftHSM but counts the user PIN's tries as a smart card does
   (SoftHSM itself never locks): after one wrong PIN CKF_USER_PIN_COUNT_LOW, after two
   CKF_USER_PIN_FINAL_TRY, after three CKF_USER_PIN_LOCKED and C_Login answers CKR_PIN_LOCKED;
   the right PIN before that resets the count. */
#include <dlfcn.h>
#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST card;
static CK_FUNCTION_LIST_PTR real;
static int failures = 0;

static CK_RV card_token_info(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info) {
    CK_RV rv = real->C_GetTokenInfo(slot, info);
    if (rv == CKR_OK) {
        info->flags &= ~(CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_LOCKED);
        if (failures >= 1) info->flags |= CKF_USER_PIN_COUNT_LOW;
        if (failures == 2) info->flags |= CKF_USER_PIN_FINAL_TRY;
        if (failures >= 3) info->flags |= CKF_USER_PIN_LOCKED;
    }
    return rv;
}

static CK_RV card_login(CK_SESSION_HANDLE session, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG len) {
    if (user == CKU_USER && failures >= 3) return CKR_PIN_LOCKED;
    CK_RV rv = real->C_Login(session, user, pin, len);
    if (user == CKU_USER) {
        if (rv == CKR_PIN_INCORRECT) failures++;
        else if (rv == CKR_OK) failures = 0;
    }
    return rv;
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list) {
    if (!real) {
        void *module = dlopen(REAL_MODULE, RTLD_NOW | RTLD_LOCAL);
        CK_C_GetFunctionList get;
        if (!module || !(get = (CK_C_GetFunctionList)dlsym(module, "C_GetFunctionList"))) return CKR_GENERAL_ERROR;
        CK_RV rv = get(&real);
        if (rv != CKR_OK) return rv;
        card = *real;
        card.C_Login = card_login;
        card.C_GetTokenInfo = card_token_info;
        card.C_GetFunctionList = C_GetFunctionList;
    }
    *list = &card;
    return CKR_OK;
}
"""


def card_module(folder: Path, hsm: SoftHsm) -> Path:
    """SoftHSM behind ``CARD_C`` (built with the C compiler and the p11-kit header, which
    tests/run_all.sh installs)."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    assert compiler is not None and Path("/usr/include/p11-kit-1/p11-kit/pkcs11.h").exists(), \
        "a C compiler and libp11-kit-dev are needed"
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / "libsofthsm2-carte.so"
    shutil.copy(hsm.module, copy)
    (folder / "carte.c").write_text(CARD_C)
    module = folder / "libcarte-pkcs11.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-O1", "-I/usr/include/p11-kit-1", f'-DREAL_MODULE="{copy}"',
                    "-o", str(module), str(folder / "carte.c"), "-ldl"], check=True, capture_output=True)
    return module


async def test_the_pin_is_asked_again_until_the_card_locks(tmp_path: Path, test_pki: TestPki, softhsm: SoftHsm,
                                                           token: str) -> None:
    """Each second chance says what the card says (few tries, then the last one); the third wrong
    PIN locks it: the sign job ends PIN_LOCKED, nothing signed."""
    softhsm.import_key(LABEL, test_pki.key_pem("qualified"), "qualified", b"\x06")
    softhsm.import_certificate(LABEL, x509.load_pem_x509_certificate(test_pki.cert_pem("qualified").read_bytes()),
                               "qualified", b"\x06")
    module = card_module(tmp_path / "carte", softhsm)
    consent = ConsoleConsent(timeout=60)
    settings = Settings(trust_roots=(test_pki.root_pem,), trust_system=False, pkcs11_modules=(module,),
                        p12_dir=tmp_path / "keys", state_dir=tmp_path / "state", log_dir=tmp_path / "log",
                        output_dir=tmp_path / "out")
    registry = KeyStoreRegistry(settings)
    (key_id,) = [key.id for store, key in registry.keys("signing") if store.label == f"{LABEL} ({module.name})"]
    manager = JobManager(JobServices(settings=settings, consent=consent, keystores=registry, local=True),
                         kinds=KINDS, platform_client=platform_client)
    document = tmp_path / "offre.txt"
    document.write_bytes(SECRET_TEXT)
    job = manager.start("cli:", "sign", {"files": [{"path": str(document), "format": "cades"}], "certificate": key_id,
                                         "out_dir": str(tmp_path / "signes")})
    seen: set[str] = set()
    consent.answer((await next_prompt(consent, seen))["id"], True, Secret("000000"))
    second = await next_prompt(consent, seen)
    assert second["notice"] == ("Code PIN ou mot de passe incorrect. "
                                "Attention : il reste peu d'essais avant le blocage du code PIN.")
    consent.answer(second["id"], True, Secret("111111"))
    third = await next_prompt(consent, seen)
    assert third["notice"] == ("Code PIN ou mot de passe incorrect. "
                               "Attention : dernier essai avant le blocage du code PIN.")
    consent.answer(third["id"], True, Secret("222222"))
    final = (await manager.wait(job.id)).snapshot()
    assert final["state"] == "failed" and final["error"]["code"] == "PIN_LOCKED", final["error"]
    assert "Code PIN bloqué" in final["error"]["message"] and consent.pending() == []
    assert not (tmp_path / "signes").exists() or not list((tmp_path / "signes").iterdir())


async def test_keygen_on_a_token_asks_a_wrong_pin_again(tmp_path: Path, test_pki: TestPki, softhsm: SoftHsm,
                                                        token: str) -> None:
    consent = ConsoleConsent(timeout=60)
    manager, _ = console_manager(tmp_path, test_pki, softhsm, consent)
    job = manager.start("https://marches.example.fr", "keygen",
                        {"name": "Marie ACHETEUSE", "target": "pkcs11", "token_label": LABEL})
    seen: set[str] = set()
    first = await next_prompt(consent, seen)
    assert first["needs_pin"] and not first["new_password"]  # the token's PIN, typed once
    consent.answer(first["id"], True, Secret("000000"))
    retry = await next_prompt(consent, seen)
    assert retry["pin_retry"] and "peu d'essais" in retry["notice"]
    consent.answer(retry["id"], True, Secret(USER_PIN))
    final = (await manager.wait(job.id)).snapshot()
    assert final["state"] == "succeeded", final["error"]
    assert final["result"]["store"] == "pkcs11" and final["result"]["location"] == LABEL
    # The certificate is on the token, next to a key that never leaves it (read with python-pkcs11).
    import pkcs11
    from pkcs11 import Attribute, ObjectClass

    lib = pkcs11.lib(str(softhsm.module))
    with lib.get_token(token_label=LABEL).open(user_pin=USER_PIN) as session:
        certs = [bytes(c[Attribute.VALUE]) for c in session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE})]
        extractable = [k[Attribute.EXTRACTABLE] for k in session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY})]
    made = x509.load_pem_x509_certificate(final["result"]["certificate"].encode())
    assert made.public_bytes(serialization.Encoding.DER) in certs
    assert False in extractable
