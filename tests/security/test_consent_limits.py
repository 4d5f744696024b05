"""Consent prompts are rate-limited per origin (agent/consent/limits.py): a page cannot bury the
user under prompts until a tired click approves one.

* one pending prompt per origin: a second request meanwhile is refused at once with
  ``CONSENT_RATE_LIMITED`` (``data.reason`` ``pending``), and never shown;
* at most ``[consent] max_prompts_per_minute`` (default 6) per origin in any minute; beyond that
  ``CONSENT_RATE_LIMITED`` (``reason`` ``rate``, ``retry_after`` seconds), never shown;
* another origin is not affected; every provider is wrapped (terminal, policies).

Real agent processes show it end to end; the wrapper's clock arithmetic is checked in process
with a controlled clock.
"""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from agent.config import ConfigError, Settings
from agent.consent import ConsentDecision, ConsentProvider, ConsentRequest
from agent.consent.limits import RateLimitedConsent
from agent.settings_load import load_settings
from bridge_protocol.client import BridgeClient, BridgeError
from bridge_protocol.errors import ErrorCode, ProtocolError
from tests.conftest import OTHER_ORIGIN
from tests.support.agent_process import ROOT, AgentProcess, free_port, isolated_env, write_config
from tests.support.pairing import seed_pairing
from tests.support.platform_server import PlatformServer

LOG_DIR = '\n[paths]\nlog_dir = "{home}/.local/state/compagnon/log"\n'


async def _outcome(call: asyncio.Future) -> str | BridgeError:  # type: ignore[type-arg]
    try:
        await call
    except BridgeError as exc:
        return exc
    return "ok"


@pytest.fixture
def deny_agent(home: Path, platform: PlatformServer) -> Iterator[AgentProcess]:
    """Two allowed origins, neither pre-approved; the user (policy) refuses every prompt."""
    write_config(home, allowed=[platform.origin, OTHER_ORIGIN], consent="deny", extra=LOG_DIR.format(home=home))
    agent = AgentProcess(home, free_port()).start()
    yield agent
    agent.stop()


async def test_twenty_pairing_requests_show_six_prompts(deny_agent: AgentProcess, platform: PlatformServer) -> None:
    async with await BridgeClient.connect(platform.origin, ports=[deny_agent.port]) as a, \
            await BridgeClient.connect(OTHER_ORIGIN, ports=[deny_agent.port]) as b:
        # Twenty at once, as a spamming page would (one pairing per connection at a time).
        pages = [await BridgeClient.connect(platform.origin, ports=[deny_agent.port]) for _ in range(20)]
        outcomes = await asyncio.gather(*[_outcome(page.pair()) for page in pages])
        for page in pages:
            await page.close()
        codes = [o.code if isinstance(o, BridgeError) else o for o in outcomes]
        assert codes.count("PAIRING_REFUSED") == 6, codes  # the six prompts the user answered
        assert codes.count("CONSENT_RATE_LIMITED") == 14, codes
        limited = [o for o in outcomes if isinstance(o, BridgeError) and o.code == "CONSENT_RATE_LIMITED"]
        assert all(o.rpc_code == -32014 and o.data["reason"] == "rate" and 1 <= o.data["retry_after"] <= 60
                   for o in limited), [o.data for o in limited]
        assert "Trop de demandes" in limited[0].message
        # Every way to a prompt is limited now: certificates.list (pairing first), a job that pairs.
        for method, params in (("certificates.list", {"purpose": "signing"}),
                               ("jobs.start", {"kind": "diagnose", "params": {}})):
            with pytest.raises(BridgeError) as err:
                await a.call(method, params)
            assert err.value.code == "CONSENT_RATE_LIMITED", method

        # The other origin is not affected: its own six prompts, then its own limit.
        other = [await _outcome(b.pair()) for _ in range(7)]
        other_codes = [o.code for o in other if isinstance(o, BridgeError)]
        assert other_codes == ["PAIRING_REFUSED"] * 6 + ["CONSENT_RATE_LIMITED"], other_codes
        await b.hello(locale="en")
        with pytest.raises(BridgeError) as err:
            await b.pair()
        assert err.value.message.startswith("Too many authorisation requests")

    log = deny_agent.log_file.read_text(encoding="utf-8")
    # What reached the provider (a refused pairing is logged once the user answered) ...
    assert log.count(f"pairing refused for {platform.origin}") == 6
    assert log.count(f"pairing refused for {OTHER_ORIGIN}") == 6
    # ... and what was refused before it.
    assert f"consent pair for {platform.origin} refused: 6 prompts in the last minute" in log


async def test_limit_is_configurable_and_wraps_the_test_approval_policy(home: Path, platform: PlatformServer) -> None:
    """approve-all-for-tests is wrapped too: keygen jobs ask (and are approved, then fail for want
    of a password); past ``max_prompts_per_minute = 3`` they fail CONSENT_RATE_LIMITED unasked."""
    write_config(home, allowed=[platform.origin], preapproved=[platform.origin], max_concurrent=1,
                 extra="max_prompts_per_minute = 3\n" + LOG_DIR.format(home=home))
    agent = AgentProcess(home, free_port()).start()
    try:
        async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as client:
            finals = [await client.run_job("keygen", {"name": f"Jean DUPONT {i}"}) for i in range(5)]
    finally:
        agent.stop()
    codes = [f["error"]["code"] for f in finals]
    assert codes == ["PIN_REQUIRED"] * 3 + ["CONSENT_RATE_LIMITED"] * 2, codes
    assert [s["state"] for s in finals[-1]["steps"] if s["id"] == "consent"] == ["failed"]
    assert not list((home / ".local/share/compagnon/keys").glob("*.p12"))


async def test_one_pending_prompt_per_origin_in_the_terminal(home: Path, platform: PlatformServer) -> None:
    """``compagnon serve`` in a terminal: while A's prompt is on screen, A's other requests are
    refused at once and never printed; B's request waits for its own turn and is shown."""
    write_config(home, allowed=[platform.origin, OTHER_ORIGIN], preapproved=[platform.origin, OTHER_ORIGIN],
                 consent="prompt")
    seed_pairing(home, platform.origin)  # both paired earlier: the prompts here are consents
    seed_pairing(home, OTHER_ORIGIN)
    port = free_port()
    child = pexpect.spawn(sys.executable, ["-m", "agent", "serve", "--port", str(port)], cwd=str(ROOT),
                          env=isolated_env(home), encoding="utf-8", timeout=30)
    child.logfile_read = terminal = io.StringIO()  # everything the user saw
    try:
        child.expect("en écoute sur")
        async with await BridgeClient.connect(platform.origin, ports=[port]) as a, \
                await BridgeClient.connect(OTHER_ORIGIN, ports=[port]) as b:
            first = asyncio.create_task(a.call("certificates.list", {"purpose": "signing"}, timeout=60))
            await asyncio.to_thread(child.expect, r"Site : (\S+)\r?\n.*?tapez ([A-Z]{4}) puis")
            assert child.match.group(1) == platform.origin
            code_a = child.match.group(2)
            for method, params in (("certificates.list", {"purpose": "decryption"}), ("files.pick", {})):
                with pytest.raises(BridgeError) as err:
                    await a.call(method, params)
                assert err.value.code == "CONSENT_RATE_LIMITED" and err.value.data["reason"] == "pending", method
            second = asyncio.create_task(b.call("certificates.list", {"purpose": "signing"}, timeout=60))
            await asyncio.sleep(0.5)
            assert not second.done()  # B waits for the terminal, it is not refused
            child.sendline(code_a)
            assert isinstance((await first)["certificates"], list)  # approved (a token may be present)
            await asyncio.to_thread(child.expect, r"Site : (\S+)\r?\n.*?tapez ([A-Z]{4}) puis")
            assert child.match.group(1) == OTHER_ORIGIN
            child.sendline(child.match.group(2))
            assert isinstance((await second)["certificates"], list)
            # After its prompt was answered, A may be asked again (a new operation): not refused.
            again = asyncio.create_task(a.call("files.pick", {}, timeout=60))
            await asyncio.to_thread(child.expect, "choix de fichiers")
            child.sendline("")
            assert (await again) == {"files": []}
    finally:
        child.terminate(force=True)
    shown = terminal.getvalue()
    # Exactly the three prompts that were allowed: A's and B's consents, then A's file choice.
    assert shown.count("demande d'autorisation") == 2 and shown.count("choix de fichiers") == 1, shown


# -- the wrapper itself, with a controlled clock -------------------------------------------------

class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class _User(ConsentProvider):
    """A user who answers when told to (``release``), and counts what was shown."""

    def __init__(self) -> None:
        self.shown: list[ConsentRequest] = []
        self.release = asyncio.Event()
        self.release.set()
        self.fail_with: ProtocolError | None = None

    async def ask(self, request: ConsentRequest) -> ConsentDecision:
        self.shown.append(request)
        await self.release.wait()
        if self.fail_with is not None:
            raise self.fail_with
        return ConsentDecision(approved=True)

    async def pick_files(self, origin: str, multiple: bool, accept: tuple[str, ...]) -> list[Path]:
        self.shown.append(ConsentRequest(origin=origin, action="pair", summary="pick"))
        return []


def _request(origin: str = "https://a.example") -> ConsentRequest:
    return ConsentRequest(origin=origin, action="sign", summary="Signer")


async def _code(awaitable) -> str:  # type: ignore[no-untyped-def]
    try:
        await awaitable
    except ProtocolError as exc:
        return f"{exc.code.value}:{exc.detail.get('reason')}"
    return "ok"


async def test_sliding_window_and_retry_after() -> None:
    clock, user = _Clock(), _User()
    limited = RateLimitedConsent(user, max_per_minute=3, clock=clock)
    for _ in range(3):  # at t, t+10, t+20
        assert await _code(limited.ask(_request())) == "ok"
        clock.now += 10
    clock.now -= 10
    with pytest.raises(ProtocolError) as err:
        await limited.ask(_request())
    assert err.value.code is ErrorCode.CONSENT_RATE_LIMITED
    assert err.value.detail == {"reason": "rate", "retry_after": 40}
    clock.now += 39.5
    with pytest.raises(ProtocolError) as err:
        await limited.ask(_request())
    assert err.value.detail["retry_after"] == 1
    clock.now += 0.5  # the first prompt leaves the window: one more is allowed, not two
    assert [await _code(limited.ask(_request())) for _ in range(2)] == ["ok", "CONSENT_RATE_LIMITED:rate"]
    assert await _code(limited.ask(_request("https://b.example"))) == "ok"  # another origin
    assert len(user.shown) == 5  # refusals never reached the user


async def test_pending_prompt_blocks_only_its_origin_and_is_released_on_failure() -> None:
    user = _User()
    limited = RateLimitedConsent(user, max_per_minute=10, clock=_Clock())
    user.release.clear()
    first = asyncio.create_task(limited.ask(_request()))
    await asyncio.sleep(0)
    assert await _code(limited.ask(_request())) == "CONSENT_RATE_LIMITED:pending"
    assert await _code(limited.pick_files("https://a.example", False, ())) == "CONSENT_RATE_LIMITED:pending"
    other = asyncio.create_task(limited.ask(_request("https://b.example")))
    await asyncio.sleep(0)
    assert [r.origin for r in user.shown] == ["https://a.example", "https://b.example"]
    user.fail_with = ProtocolError(ErrorCode.USER_TIMEOUT)
    user.release.set()
    assert await _code(first) == "USER_TIMEOUT:None" and await _code(other) == "USER_TIMEOUT:None"
    user.fail_with = None
    assert await _code(limited.ask(_request())) == "ok"  # the slot was freed by the failure


def test_configuration(tmp_path: Path) -> None:
    assert Settings().consent_max_prompts_per_minute == 6
    path = tmp_path / "config.toml"
    path.write_text("[consent]\nmax_prompts_per_minute = 2\n", encoding="utf-8")
    assert load_settings(path).consent_max_prompts_per_minute == 2
    for bad in ("0", "-1", '"6"', "true"):
        path.write_text(f"[consent]\nmax_prompts_per_minute = {bad}\n", encoding="utf-8")
        with pytest.raises(ConfigError):
            load_settings(path)
    with pytest.raises(ValueError):
        RateLimitedConsent(_User(), max_per_minute=0)
