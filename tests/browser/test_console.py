"""The local console (agent.desktop) in Debian chromium, against a real agent process.

The agent runs as ``compagnon serve`` with ``[consent] policy = "console"`` (what ``compagnon
tray`` uses, without the icon: tests/integration/test_tray.py covers the icon). The console URL,
with its one-time code, is what the agent hands the browser: ``COMPAGNON_BROWSER`` records it.

* Without the code (or with a spent one) the page shows nothing of the agent and the API answers
  403; a page of another origin can neither read the API (no CORS) nor act through it (its
  requests carry its own ``Origin``: 403), even with a valid session token.
* Pairing from the demo page (``agent.pair``): approved, then denied for another origin, in the
  console; the approved site is revoked from "Sites autorisés"; the journal shows the three.
* Signing from the demo ``/signer`` page: the consent in the console shows the files (size,
  SHA-256) and the certificate; the token's PIN is typed in the console's PIN field; refusal and
  timeout reach the page as USER_CANCELLED / USER_TIMEOUT. Then the PIN is nowhere: not in the
  agent's log or output, the job records, the audit journal or any file of the user's folders,
  nor in any WebSocket frame the demo page sent or received.
* Applications: a local file named by its path is signed from the console (origin ``console:``,
  the same ``sign`` job and consent), next to its source; openssl checks it.
* "Traitements distants" draws each job with the platform kit's job view (bridge_protocol/js/
  job-view.js, the demo pages' view): waiting for the user (and where), refused (✗ and the
  error), signed (every step ✓), with nothing left of the waiting once it has ended.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from playwright.async_api import Browser, Page, expect

from agent.audit import verify_lines
from agent.demo_platform.app import DemoState, create_demo_app
from tests.browser.test_demo_page import browser  # noqa: F401  (fixture)
from tests.support.agent_process import ROOT, AgentProcess, free_port, isolated_env, write_config
from tests.support.pairing import seed_pairing
from tests.support.console import RecordingBrowser, code_of, console_origin, http

pytestmark = pytest.mark.browser


@pytest.fixture
async def demo_port() -> AsyncIterator[int]:
    """The demo platform (reachable as http://127.0.0.1:PORT and http://localhost:PORT)."""
    port = free_port()
    runner = web.AppRunner(create_demo_app(DemoState()))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield port
    await runner.cleanup()


@pytest.fixture
async def foreign_site() -> AsyncIterator[str]:
    """Another local web site, with no CSP of its own to get in the way of its scripts."""
    async def page(request: web.Request) -> web.Response:
        return web.Response(text="<!doctype html><title>autre site</title><p>autre site</p>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


def start_agent(home: Path, tmp_path: Path, *, allowed: list[str], preapproved: list[str] | None = None,
                timeout: float = 60, extra: str = "") -> tuple[AgentProcess, RecordingBrowser]:
    write_config(home, allowed=allowed, preapproved=preapproved, consent="console", consent_timeout=timeout,
                 extra=extra)
    recorder = RecordingBrowser(tmp_path / "browser")
    agent = AgentProcess(home, free_port(), extra_env=recorder.env).start()
    if "Console locale : http://127.0.0.1:" not in agent.output():
        agent.stop()
        raise AssertionError(f"no console:\n{agent.output()}")
    return agent, recorder


def console_url(agent: AgentProcess, recorder: RecordingBrowser, section: str | None = None) -> str:
    """``compagnon console``: the running agent opens its console; the URL it handed the browser."""
    count = len(recorder.urls())
    args = ["--section", section] if section else []
    subprocess.run([sys.executable, "-m", "agent", "console", *args], cwd=ROOT, env=isolated_env(agent.home),
                   check=True, timeout=30)
    return recorder.wait_for(count + 1)


async def open_console(browser: Browser, url: str) -> Page:  # noqa: F811
    page = await browser.new_page()
    await page.goto(url)
    await expect(page.locator("#state-badge")).to_have_text("Prêt", timeout=15_000)
    return page


async def call_pair(page: Page) -> None:
    """The user clicks "Jumeler" on the demo page: the agent asks in its console."""
    await expect(page.locator("#agent-state")).to_have_text("Non jumelé", timeout=15_000)
    await page.locator("#pair-start").click()


async def console_code(prompt) -> str:  # type: ignore[no-untyped-def]
    """The pairing code the console shows in a prompt (what the user reads and types in the page)."""
    await expect(prompt.locator(".prompt-code")).to_have_text(re.compile(r"^\d{3} \d{3}$"), timeout=10_000)
    return str(await prompt.locator(".prompt-code").text_content())


async def pair_result(page: Page, code: str | None = None) -> dict:
    """The page's outcome: with ``code`` typed in its field, paired; else the error it shows."""
    if code is None:
        await expect(page.locator("#pair-error")).to_be_visible(timeout=30_000)
        return {"error": await page.locator("#pair-error").text_content()}
    await expect(page.locator("#pair-code")).to_be_visible(timeout=30_000)
    await page.locator("#pair-code").fill(code)
    await page.locator("#pair-confirm").click()
    await expect(page.locator("#agent")).to_have_attribute("data-state", "paired", timeout=15_000)
    return {"paired": True}


def assert_headers(headers: dict[str, str]) -> None:
    lower = {k.lower(): v for k, v in headers.items()}
    csp = lower["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert lower["x-frame-options"] == "DENY"
    assert "access-control-allow-origin" not in lower


async def test_the_console_is_refused_without_its_secret(home: Path, tmp_path: Path, browser: Browser) -> None:  # noqa: F811
    agent, recorder = start_agent(home, tmp_path, allowed=["https://marches.example.fr"])
    try:
        url = console_url(agent, recorder)
        origin = console_origin(url)
        assert url.startswith(f"{origin}/console/#k=") and origin.startswith("http://127.0.0.1:")
        assert f":{agent.port}" not in origin  # its own port, not the bridge's

        # The API without a session, with a made-up one, or with the code itself: 403.
        for path in ("state", "pairings", "audit", "audit/export", "certificates?purpose=signing"):
            for headers in ({}, {"X-Compagnon-Console": "A" * 43}, {"X-Compagnon-Console": code_of(url)}):
                status, answer_headers, _ = http("GET", f"{origin}/console/api/{path}", headers)
                assert status == 403, (path, headers)
                assert_headers(answer_headers)
        status, _, _ = http("POST", f"{origin}/console/api/session", {"Origin": origin, "X-Compagnon-Code": "forged"})
        assert status == 403
        status, _, _ = http("POST", f"{origin}/console/api/prompts/x", {"Origin": origin}, {"approved": True})
        assert status == 403
        status, _, _ = http("POST", f"{origin}/console/api/update/check", {"Origin": origin}, {})
        assert status == 403

        # The page without the code: how to open the console, nothing of the agent.
        page = await browser.new_page()
        response = await page.goto(f"{origin}/console/")
        assert response is not None
        assert_headers(await response.all_headers())
        await expect(page.locator("#locked-message")).to_contain_text("Ouvrez la console depuis l'icône de Compagnon")
        await expect(page.locator("#app")).to_be_hidden()
        shown = await page.locator("body").inner_text()
        assert "marches.example.fr" not in shown and "ws://" not in shown and "0.1.0" not in shown

        # The real link: the code is swapped for a session and leaves the address bar.
        console = await open_console(browser, url)
        await expect(console.locator("#home-origins")).to_have_text("https://marches.example.fr")
        assert "k=" not in console.url
        await console.get_by_role("button", name="English").click()
        await expect(console.locator("#state-badge")).to_have_text("Ready")
        await expect(console.locator("#nav-traitements")).to_have_text("Remote jobs")

        # Spent: the same link again shows nothing, and the code no longer opens a session.
        again = await browser.new_page()
        await again.goto(url)
        await expect(again.locator("#locked-message")).to_contain_text("a expiré ou a déjà servi")
        await expect(again.locator("#app")).to_be_hidden()
        status, _, _ = http("POST", f"{origin}/console/api/session", {"Origin": origin, "X-Compagnon-Code": code_of(url)})
        assert status == 403
    finally:
        agent.stop()
    assert "console: refused GET /console/api/state: no console session" in agent.log_file.read_text()


async def test_a_foreign_origin_cannot_call_the_console(home: Path, tmp_path: Path, browser: Browser,  # noqa: F811
                                                      demo_port: int, foreign_site: str) -> None:
    site = f"http://127.0.0.1:{demo_port}"
    seed_pairing(home, site)
    agent, recorder = start_agent(home, tmp_path, allowed=[site])
    try:
        url = console_url(agent, recorder)
        origin = console_origin(url)
        console = await open_console(browser, url)
        token = await console.evaluate("sessionStorage.getItem('compagnon-console')")
        assert token and token not in url

        # A page of another origin, even holding the session token: it cannot read the API (no
        # CORS: the preflight is refused), and what it sends anyway carries its Origin: refused.
        foreign = await browser.new_page()
        await foreign.goto(foreign_site)
        outcome = await foreign.evaluate("""async ([origin, token, site]) => {
            const out = {};
            const attempt = async (name, request) => {
              try { const r = await request(); out[name] = r.type === 'opaque' ? 'opaque' : `read ${r.status} ${await r.text()}`; }
              catch (e) { out[name] = `blocked ${e.name}`; }
            };
            await attempt('state', () => fetch(`${origin}/console/api/state`, {headers: {'X-Compagnon-Console': token}}));
            await attempt('plain', () => fetch(`${origin}/console/api/pairings`));
            await attempt('revoke', () => fetch(`${origin}/console/api/pairings/revoke`, {method: 'POST', mode: 'no-cors',
              headers: {'Content-Type': 'text/plain'}, body: JSON.stringify({origin: site})}));
            await attempt('job', () => fetch(`${origin}/console/api/jobs`, {method: 'POST', mode: 'no-cors',
              headers: {'Content-Type': 'text/plain'}, body: JSON.stringify({kind: 'diagnose', params: {}})}));
            return out; }""", [origin, token, site])
        assert outcome["state"].startswith("blocked"), outcome
        assert outcome["plain"].startswith("blocked"), outcome
        assert outcome["revoke"] in ("opaque",) or outcome["revoke"].startswith("blocked"), outcome

        # Direct requests with a valid token but a foreign Origin (or a cross-site fetch): 403.
        good = {"X-Compagnon-Console": token, "Origin": origin}
        for bad in ({"Origin": foreign_site}, {"Origin": "https://evil.example"}, {"Origin": "null"},
                    {"Origin": site}, {"Sec-Fetch-Site": "cross-site", "Origin": origin}):
            status, headers, _ = http("GET", f"{origin}/console/api/pairings", good | bad)
            assert status == 403, bad
            assert_headers(headers)
            status, _, _ = http("POST", f"{origin}/console/api/pairings/revoke", good | bad, {"origin": site})
            assert status == 403, bad
        status, _, _ = http("POST", f"{origin}/console/api/pairings/revoke", {"X-Compagnon-Console": token}, {"origin": site})
        assert status == 403  # a state change without the console's Origin
        status, headers, _ = http("OPTIONS", f"{origin}/console/api/state", {"Origin": foreign_site,
                                  "Access-Control-Request-Method": "GET",
                                  "Access-Control-Request-Headers": "x-compagnon-console"})
        assert status == 403 and "access-control-allow-origin" not in {k.lower() for k in headers}
        # The control path (second launch) refuses any request from a browser (it has an Origin).
        status, _, _ = http("POST", f"{origin}/console/control", {"Origin": origin}, {"action": "quit"})
        assert status == 403

        # Nothing happened: the site is still paired, no job was started, and the console works.
        status, _, body = http("GET", f"{origin}/console/api/pairings", good)
        assert status == 200 and [p["origin"] for p in json.loads(body)["pairings"]] == [site]
        status, _, body = http("GET", f"{origin}/console/api/state", good)
        assert status == 200 and json.loads(body)["jobs"] == []
    finally:
        agent.stop()
    log = agent.log_file.read_text()
    assert "console: refused OPTIONS /console/api/state: no CORS" in log
    assert "console: refused POST /console/api/pairings/revoke: foreign Origin" in log


async def test_pairing_approved_and_denied_in_the_console(home: Path, tmp_path: Path, browser: Browser,  # noqa: F811
                                                         demo_port: int) -> None:
    site_a, site_b = f"http://127.0.0.1:{demo_port}", f"http://localhost:{demo_port}"
    agent, recorder = start_agent(home, tmp_path, allowed=[site_a, site_b])
    try:
        console = await open_console(browser, console_url(agent, recorder))
        prompts = console.locator("#prompts .prompt")

        page_a = await browser.new_page()
        await page_a.goto(f"{site_a}/?agent_ports={agent.port}")
        await call_pair(page_a)
        prompt = console.locator('.prompt[data-action="pair"]')
        await expect(prompt).to_have_count(1, timeout=10_000)
        await expect(prompt.locator(".prompt-origin")).to_have_text(site_a)
        await expect(prompt.locator("h3")).to_have_text("Autoriser un nouveau site à utiliser Compagnon ?")
        await expect(console.locator("#state-badge")).to_have_text("Attention requise")
        code = await console_code(prompt)
        await prompt.get_by_role("button", name="Autoriser").click()
        assert await pair_result(page_a, code) == {"paired": True}
        await expect(page_a.locator("#agent-state")).to_have_text("En ligne")
        await expect(prompts).to_have_count(0)

        page_b = await browser.new_page()
        await page_b.goto(f"{site_b}/?agent_ports={agent.port}")
        await call_pair(page_b)
        prompt = console.locator('.prompt[data-action="pair"]')
        await expect(prompt.locator(".prompt-origin")).to_have_text(site_b, timeout=10_000)
        await prompt.get_by_role("button", name="Refuser").click()
        assert "n'a pas autorisé ce site" in (await pair_result(page_b))["error"]
        await expect(page_b.locator("#agent-state")).to_have_text("Non jumelé")

        # Sites autorisés: site A, not B; revoked from the console.
        await console.get_by_role("link", name="Sites autorisés").click()
        rows = console.locator("#sites-rows tr")
        await expect(rows).to_have_count(1)
        await expect(rows.first).to_contain_text(site_a)
        await console.get_by_role("button", name=f"Révoquer {site_a}").click()
        await expect(rows).to_have_count(0)
        await expect(console.locator("#sites-none")).to_have_text("Aucun site autorisé.")

        # The journal: the three decisions, chained and intact.
        await console.get_by_role("link", name="Journal").click()
        await expect(console.locator("#audit-state")).to_have_text("Journal intact (3 entrées)")
        journal = console.locator("#audit-rows")
        for text in ("Site autorisé", "Site refusé", "Autorisation retirée"):
            await expect(journal).to_contain_text(text)
        # Exported: the journal's very bytes, a chain any reader can check again.
        async with console.expect_download() as downloading:
            await console.get_by_role("button", name="Exporter le journal").click()
        download = await downloading.value
        assert re.fullmatch(r"journal-compagnon-\d{4}-\d{2}-\d{2}\.jsonl", download.suggested_filename)
        exported = Path(await download.path()).read_bytes()
        assert exported == (agent.state_dir / "audit" / "audit.jsonl").read_bytes()
        assert verify_lines(exported.splitlines(keepends=True)).intact
        await expect(console.locator("#audit-export-status")).to_contain_text("chaîne intacte")
        # The console was open all along: no prompt opened another one.
        assert len(recorder.urls()) == 1
    finally:
        agent.stop()
    assert json.loads((agent.state_dir / "pairings.json").read_text())["approved"] == {}


async def test_a_prompt_opens_the_console_when_none_is_open(home: Path, tmp_path: Path, browser: Browser,  # noqa: F811
                                                           demo_port: int) -> None:
    site = f"http://127.0.0.1:{demo_port}"
    agent, recorder = start_agent(home, tmp_path, allowed=[site])
    try:
        page = await browser.new_page()
        await page.goto(f"{site}/?agent_ports={agent.port}")
        await call_pair(page)
        url = recorder.wait_for(1)  # the agent opened its console by itself
        console = await browser.new_page()
        await console.goto(url)
        prompt = console.locator('.prompt[data-action="pair"]')
        await expect(prompt.locator(".prompt-origin")).to_have_text(site, timeout=10_000)
        code = await console_code(prompt)
        await prompt.get_by_role("button", name="Autoriser").click()
        assert await pair_result(page, code) == {"paired": True}
    finally:
        agent.stop()


async def test_signing_consent_pin_refusal_and_timeout_in_the_console(
    home: Path, tmp_path: Path, browser: Browser, demo_port: int, test_pki, token  # type: ignore[no-untyped-def]  # noqa: F811
) -> None:
    from tests.integration.test_certificates_bridge import keystore_config

    site = f"http://127.0.0.1:{demo_port}"
    out_dir = home / "Documents signés"
    timeout = 12
    agent, recorder = start_agent(home, tmp_path, allowed=[site], preapproved=[site], timeout=timeout,
                                  extra=keystore_config(test_pki, token) + f'\n[signing]\noutput_dir = "{out_dir}"\n')
    sources = {"Offre technique.pdf": _pdf(), "Annexe financière.txt": "Prix : 1 000 €\n".encode() * 50}
    for name, data in sources.items():
        (tmp_path / name).write_bytes(data)
    frames: list[str] = []
    try:
        console = await open_console(browser, console_url(agent, recorder))
        page = await browser.new_page()
        page.on("websocket", lambda ws: (ws.on("framesent", lambda payload: frames.append(str(payload))),
                                         ws.on("framereceived", lambda payload: frames.append(str(payload)))))
        await page.goto(f"{site}/signer?agent_ports={agent.port}")
        # Pre-approved: the console shows the code, with nothing to answer; the user types it.
        await call_pair(page)
        shown = console.locator('.prompt[data-action="pair"]')
        await expect(shown.get_by_role("button", name="Autoriser")).to_have_count(0, timeout=10_000)
        assert await pair_result(page, await console_code(shown)) == {"paired": True}
        await expect(shown).to_have_count(0)
        await expect(page.locator("#agent-state")).to_have_text("En ligne", timeout=15_000)
        await page.locator("#file-input").set_input_files([str(tmp_path / n) for n in sources])

        # The certificate list needs a consent too.
        await page.get_by_role("button", name="Afficher mes certificats").click()
        listing = console.locator('.prompt[data-action="certificates"]')
        await expect(listing.locator(".prompt-origin")).to_have_text(site, timeout=10_000)
        await expect(listing.locator("input[type=password]")).to_have_count(0)
        await listing.get_by_role("button", name="Autoriser").click()
        row = page.locator("#cert-rows tr", has_text="Jeanne TITULAIRE — ENTREPRISE EXEMPLE")
        await row.locator('input[type="radio"]').check(timeout=30_000)

        # 1. Approved with the token's PIN, typed in the console.
        await page.get_by_role("button", name="Signer", exact=True).click()
        prompt = console.locator('.prompt[data-action="sign"]')
        await expect(prompt).to_have_count(1, timeout=30_000)
        await expect(prompt.locator(".prompt-origin")).to_have_text(site)
        for name, data in sources.items():
            file_row = prompt.locator(f'tr[data-file="{name}"]')
            await expect(file_row).to_contain_text(hashlib.sha256(data).hexdigest())
            assert str(len(data)) == await file_row.locator("td").nth(1).get_attribute("title")
        await expect(prompt.locator(".prompt-certificate")).to_contain_text("Jeanne TITULAIRE")
        await prompt.get_by_role("button", name="Autoriser").click()  # no PIN yet: refused in the console
        await expect(prompt.locator(".prompt-error")).to_have_text("Saisissez le code PIN pour autoriser.")
        await prompt.get_by_label("Code PIN").fill(token.pin)
        await prompt.get_by_role("button", name="Autoriser").click()
        await expect(page.locator("#sign-verdict")).to_have_text(
            "La signature électronique des fichiers sélectionnés s'est terminée avec succès.", timeout=60_000)
        await expect(page.locator("#count-signed")).to_have_text("2")
        # Traitements distants: the job, its launch date and its steps, all done.
        await console.get_by_role("link", name="Traitements distants").click()
        job = console.locator('.job[data-kind="sign"]').first
        await expect(job).to_have_attribute("data-state", "succeeded")
        await expect(job.locator(".job-start")).to_contain_text("Date de lancement de ce traitement : ")
        await expect(job.locator('.job-steps li[data-state="succeeded"]')).to_have_count(4)
        await expect(job.locator(".job-steps .mark").first).to_have_text("✓")

        # 2. Refused: USER_CANCELLED reaches the page.
        await page.get_by_role("button", name="Signer", exact=True).click()
        prompt = console.locator('.prompt[data-action="sign"]')
        await expect(prompt).to_have_count(1, timeout=30_000)
        await prompt.get_by_role("button", name="Refuser").click()
        await expect(page.locator("#sign-error")).to_have_text("Opération refusée par l'utilisateur.", timeout=30_000)

        # 3. No answer: USER_TIMEOUT reaches the page, and the prompt in the console is ...
        await page.get_by_role("button", name="Signer", exact=True).click()
        await expect(console.locator('.prompt[data-action="sign"]')).to_have_count(1, timeout=30_000)
        await expect(page.locator("#sign-error")).to_have_text("L'utilisateur n'a pas répondu à temps.",
                                                               timeout=(timeout + 30) * 1000)
        # ... withdrawn visibly: its fields closed, saying that nothing typed there goes anywhere.
        await expect(console.locator('.prompt[data-action="sign"]:not(.withdrawn)')).to_have_count(0)
        withdrawn = console.locator('.prompt.withdrawn[data-action="sign"]')
        await expect(withdrawn.locator(".prompt-withdrawn")).to_have_text(
            "Cette demande a été retirée (tâche annulée ou délai dépassé) : ce qui y serait saisi n'est transmis à personne.")
        await expect(withdrawn.locator("input[type=password]")).to_be_disabled()
        await withdrawn.get_by_role("button", name="Fermer").click()
        await expect(console.locator('.prompt[data-action="sign"]')).to_have_count(0)
        codes = [json.loads(f)["params"]["job"]["error"]["code"] for f in frames
                 if '"jobs.updated"' in f and '"error":{' in f]
        assert "USER_CANCELLED" in codes and "USER_TIMEOUT" in codes, codes
    finally:
        agent.stop()

    signed = [p.name for p in out_dir.iterdir()]
    assert any(n.startswith("Offre technique - ") and n.endswith(".pdf") for n in signed), signed
    # The PIN is nowhere: log, output, job records, audit journal, any file of the user; no frame.
    pin = token.pin.encode()
    assert pin not in agent.output().encode()
    checked = 0
    for path in home.rglob("*"):
        if path.is_file():
            assert pin not in path.read_bytes(), path
            checked += 1
    assert (agent.state_dir / "audit" / "audit.jsonl").is_file() and any((agent.state_dir / "jobs").iterdir())
    assert agent.log_file.is_file() and checked > 5
    assert frames and not [f for f in frames if token.pin in f]
    audit = (agent.state_dir / "audit" / "audit.jsonl").read_text().splitlines()
    assert [json.loads(line)["result"] for line in audit if json.loads(line)["action"] == "sign"] == \
        ["succeeded", "failed", "failed"]


async def test_applications_sign_a_local_file_from_the_console(
    home: Path, tmp_path: Path, browser: Browser, test_pki, token  # type: ignore[no-untyped-def]  # noqa: F811
) -> None:
    from tests.integration.test_certificates_bridge import keystore_config
    from tests.support.verifiers import openssl_cms_ok

    agent, recorder = start_agent(home, tmp_path, allowed=["https://marches.example.fr"],
                                  extra=keystore_config(test_pki, token))
    source = tmp_path / "Mémoire technique.txt"
    source.write_bytes("Mémoire technique du lot 2\n".encode() * 40)
    try:
        console = await open_console(browser, console_url(agent, recorder, "applications"))
        form = console.locator("#app-sign")
        await expect(form).to_be_visible()
        jeanne = form.locator("#sign-certificate option", has_text="Jeanne TITULAIRE").first
        await expect(jeanne).to_have_count(1, timeout=30_000)  # the certificates are listed without any prompt
        await form.get_by_label("Fichier(s) à signer (un chemin par ligne)").fill(str(source))
        await form.get_by_label("Format de signature").select_option("cades")
        await form.locator("#sign-certificate").select_option(await jeanne.get_attribute("value"))
        await form.get_by_role("button", name="Signer", exact=True).click()

        # The same consent as for a site, from "cette console", with the PIN typed here.
        prompt = console.locator('.prompt[data-action="sign"]')
        await expect(prompt.locator(".prompt-origin")).to_have_text("cette console", timeout=30_000)
        await expect(prompt.locator(f'tr[data-file="{source.name}"]')).to_contain_text(
            hashlib.sha256(source.read_bytes()).hexdigest())
        await prompt.get_by_label("Code PIN").fill(token.pin)
        await prompt.get_by_role("button", name="Autoriser").click()
        job = console.locator('.job[data-kind="sign"]').first
        await expect(job).to_have_attribute("data-state", "succeeded", timeout=60_000)
        await expect(job.locator(".job-origin")).to_have_text("cette console")
        await expect(job.locator(".job-outputs")).to_contain_text(f"{source.name} - ")
    finally:
        agent.stop()
    (signed,) = [p for p in tmp_path.iterdir() if p.name.startswith(f"{source.name} - ") and p.suffix == ".p7s"]
    assert openssl_cms_ok(signed, source, test_pki)  # written next to its source, as on the command line
    record = json.loads((agent.state_dir / "audit" / "audit.jsonl").read_text().splitlines()[-1])
    assert (record["action"], record["origin"], record["result"]) == ("sign", "console:", "succeeded")
    assert token.pin.encode() not in agent.log_file.read_bytes()


async def test_the_jobs_are_drawn_by_the_kit_job_view(
    home: Path, tmp_path: Path, browser: Browser, test_pki, token  # type: ignore[no-untyped-def]  # noqa: F811
) -> None:
    from tests.integration.test_certificates_bridge import keystore_config

    agent, recorder = start_agent(home, tmp_path, allowed=["https://marches.example.fr"],
                                  extra=keystore_config(test_pki, token))
    source = tmp_path / "Acte d'engagement.txt"
    source.write_bytes(b"Acte d'engagement du lot 1\n" * 40)
    try:
        console = await open_console(browser, console_url(agent, recorder, "applications"))
        # The console serves the kit's own file, and its page imports it (the policy lets it load).
        served = await console.evaluate("fetch('/console/static/job-view.js').then((r) => r.text())")
        assert served == (ROOT / "bridge_protocol" / "js" / "job-view.js").read_text(encoding="utf-8")
        form = console.locator("#app-sign")
        jeanne = form.locator("#sign-certificate option", has_text="Jeanne TITULAIRE").first
        await expect(jeanne).to_have_count(1, timeout=30_000)
        await form.get_by_label("Fichier(s) à signer (un chemin par ligne)").fill(str(source))
        await form.get_by_label("Format de signature").select_option("cades")
        await form.locator("#sign-certificate").select_option(await jeanne.get_attribute("value"))

        async def sign() -> tuple:  # type: ignore[type-arg]
            await console.get_by_role("link", name="Applications").click()
            await form.get_by_role("button", name="Signer", exact=True).click()
            await expect(console.locator("#s-traitements")).to_be_visible()
            job = console.locator('.job[data-kind="sign"]').first
            view = job.locator(".job-view")
            # Waiting for the user: said apart, naming where to answer; the consent step marked so.
            await expect(view).to_have_attribute("data-state", "waiting-user", timeout=30_000)
            await expect(view.locator(".job-waiting")).to_have_text("Compagnon attend votre réponse.")
            await expect(view.locator(".job-message")).to_have_text("Répondez dans la console de Compagnon.")
            consent = view.locator('.job-steps li[data-step="consent"]')
            await expect(consent).to_have_attribute("data-state", "waiting-user")
            await expect(consent.locator(".mark")).to_have_text("⏳")
            await expect(view.locator(".job-cancel")).to_be_visible()
            return job, view, console.locator('.prompt[data-action="sign"]')

        # 1. Refused: the failure is drawn (✗ on the consent, the error once), the waiting gone.
        job, view, prompt = await sign()
        await prompt.get_by_role("button", name="Refuser").click()
        await expect(job).to_have_attribute("data-state", "failed", timeout=30_000)
        await expect(view).to_have_attribute("data-state", "failed")
        await expect(view.locator('.job-steps li[data-step="consent"] .mark')).to_have_text("✗")
        await expect(view.locator(".job-error")).to_have_text("Opération refusée par l'utilisateur.")
        await expect(view.locator(".job-error")).to_have_attribute("data-code", "USER_CANCELLED")
        await expect(view.locator(".job-waiting")).to_be_hidden()
        await expect(view.locator(".job-cancel")).to_be_hidden()
        text = await job.inner_text()
        assert "attend votre réponse" not in text and "Répondez" not in text, text
        assert text.count("Opération refusée par l'utilisateur.") == 1, text

        # 2. Approved with the PIN: every step ticked, 100 %, nothing left of the waiting.
        job, view, prompt = await sign()
        await prompt.get_by_label("Code PIN").fill(token.pin)
        await prompt.get_by_role("button", name="Autoriser").click()
        await expect(job).to_have_attribute("data-state", "succeeded", timeout=60_000)
        marks = await view.locator(".job-steps li .mark").all_text_contents()
        assert marks and marks == ["✓"] * len(marks), marks
        await expect(view.locator(".job-progress")).to_contain_text("100 %")
        await expect(view.locator(".job-current")).to_have_text("")
        await expect(view.locator(".job-waiting")).to_be_hidden()
        await expect(view.locator(".job-error")).to_be_hidden()
        await expect(view.locator(".job-cancel")).to_be_hidden()
        text = await job.inner_text()
        assert "attend votre réponse" not in text and "Répondez" not in text and "sur 1" not in text, text
    finally:
        agent.stop()


def _pdf() -> bytes:
    from tests.support.pdf import make_pdf

    return make_pdf(pages=1, title="Offre technique")


async def test_accueil_looks_for_an_update_on_demand(home: Path, tmp_path: Path, browser: Browser) -> None:  # noqa: F811
    """Accueil's "Rechercher une mise à jour" (agent.update.scheduler): a newer signed version is
    found; a manifest signed by an unknown key is refused, with its reason on screen."""
    from tests.support.update import ManifestServer, Publisher, make_wheel

    server = ManifestServer().start()
    publisher = Publisher()
    name, wheel = make_wheel("0.2.0")
    server.publish(publisher, "0.2.0", {name: wheel})
    extra = (f'\n[update]\nurl = "{server.manifest_url}"\npublic_keys = ["{publisher.public_b64}"]\n'
             f'check_interval_hours = 0\napp_dir = "{tmp_path / "pas installé"}"\n')
    agent, recorder = start_agent(home, tmp_path, allowed=["https://marches.example.fr"], extra=extra)
    try:
        console = await open_console(browser, console_url(agent, recorder))
        status = console.locator("#home-update")
        await expect(status).to_have_text("Pas encore vérifiées depuis le démarrage.")
        assert server.hits == []  # no automatic check with check_interval_hours = 0
        await console.get_by_role("button", name="Rechercher une mise à jour").click()
        await expect(status).to_have_text("La version 0.2.0 est disponible.", timeout=30_000)
        await expect(console.locator("#home-update-checked")).to_contain_text("dernière recherche")

        server.publish(publisher, "0.3.0", {name: wheel}, signer=Publisher())
        await console.get_by_role("button", name="Rechercher une mise à jour").click()
        await expect(status).to_have_attribute("data-status", "failed", timeout=30_000)
        await expect(status).to_contain_text("Échec de la dernière recherche : ")
    finally:
        agent.stop()
        server.stop()
    journal = (agent.state_dir / "audit" / "audit.jsonl").read_text()
    assert '"update.refused"' in journal


async def test_accueil_creates_the_diagnostic_file_in_one_click(home: Path, tmp_path: Path, browser: Browser) -> None:  # noqa: F811
    """Accueil's "Créer le fichier de diagnostic": the workstation test runs, and the ZIP for IT
    support (agent.doctor) is written in the user's Documents folder, its path shown."""
    import zipfile

    (home / "Documents").mkdir()
    agent, recorder = start_agent(home, tmp_path, allowed=["https://marches.example.fr"])
    try:
        console = await open_console(browser, console_url(agent, recorder))
        await console.get_by_role("button", name="Créer le fichier de diagnostic").click()
        status = console.locator("#bundle-status")
        await expect(status).to_contain_text("Fichier de diagnostic créé : ", timeout=60_000)
        shown = (await status.text_content() or "").split(" : ", 1)[1].split(" (", 1)[0]
    finally:
        agent.stop()
    bundle = Path(shown)
    assert bundle.parent == home / "Documents" and bundle.name.startswith("Compagnon-diagnostic-"), shown
    assert oct(bundle.stat().st_mode & 0o777) == "0o600"
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
        assert {"LISEZMOI.txt", "versions.json", "system.json", "diagnose.json"} <= names, names
        checks = json.loads(archive.read("diagnose.json"))["checks"]
    assert len(checks) == 8


async def test_a_diagnostic_file_that_cannot_be_written_is_said_in_french(home: Path, tmp_path: Path,
                                                                         browser: Browser) -> None:  # noqa: F811
    """The folder refuses the file (here Documents leads into /proc, where nobody creates files, not
    even root): the console says so in the user's language, with the folder, and nothing is left."""
    (home / "Documents").symlink_to("/proc/self")
    agent, recorder = start_agent(home, tmp_path, allowed=["https://marches.example.fr"])
    try:
        console = await open_console(browser, console_url(agent, recorder))
        await console.get_by_role("button", name="Créer le fichier de diagnostic").click()
        status = console.locator("#bundle-status")
        await expect(status).to_contain_text("Le fichier de diagnostic n'a pas pu être écrit dans ", timeout=60_000)
        text = await status.text_content() or ""
        await expect(console.get_by_role("button", name="Créer le fichier de diagnostic")).to_be_enabled()
    finally:
        agent.stop()
    assert str(home / "Documents") in text and text.endswith(" : erreur du système (ENOENT)."), text
    assert not list(home.glob("Compagnon-diagnostic-*"))
