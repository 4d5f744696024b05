"""Signed auto-update, end to end: a real Ed25519 key, a manifest server on loopback, a temporary
install layout, the staging by the updater (and ``compagnon update``), the switch and the rollback
by the launcher (installers/common/launcher.py), and ``agent.hello``'s ``min_version``."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import jsonschema
import pytest

from agent.audit import AuditLog
from agent.config import Settings
from agent.update.layout import InstallLayout
from agent.update.manifest import UpdateRefused
from agent.update.scheduler import UpdateScheduler
from agent.update.updater import Updater
from bridge_protocol.client import BridgeClient, BridgeError
from bridge_protocol.documents import json_schema_document
from tests.support.agent_process import AgentProcess, isolated_env
from tests.support.platform_server import PlatformServer
from tests.support.update import (
    LAUNCHER,
    FakeInstaller,
    ManifestServer,
    Publisher,
    make_layout,
    make_wheel,
    read_json,
)

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Install:
    home: Path
    app: Path
    state_dir: Path
    server: ManifestServer
    publisher: Publisher

    @property
    def ready_file(self) -> Path:
        return self.state_dir / "ready.json"

    @property
    def layout(self) -> InstallLayout:
        return InstallLayout(self.app)

    @property
    def audit(self) -> AuditLog:
        return AuditLog.in_state_dir(self.state_dir)

    def settings(self, health_timeout: float = 10.0, keys: tuple[str, ...] | None = None) -> Settings:
        return Settings(state_dir=self.state_dir, log_dir=self.state_dir / "log",
                        update_url=self.server.manifest_url,
                        update_public_keys=keys if keys is not None else (self.publisher.public_b64,),
                        update_health_timeout=health_timeout, update_app_dir=self.app)

    def updater(self, installer: FakeInstaller | None = None, **kwargs) -> Updater:  # type: ignore[no-untyped-def]
        return Updater(self.settings(**kwargs), installer=installer or FakeInstaller(self.ready_file))

    def actions(self) -> list[dict]:
        return [e for e in self.audit.entries() if str(e.get("action", "")).startswith("update.")]

    def write_config(self, health_timeout: float = 10.0) -> None:
        config = self.home / ".config" / "compagnon" / "config.toml"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(
            f'[update]\nurl = "{self.server.manifest_url}"\npublic_keys = ["{self.publisher.public_b64}"]\n'
            f"health_timeout_seconds = {health_timeout}\n", encoding="utf-8")


@pytest.fixture
def install(tmp_path: Path) -> Iterator[Install]:
    home = tmp_path / "home"
    app = home / ".local/share/compagnon/app"
    state = home / ".local/state/compagnon"
    server = ManifestServer().start()
    setup = Install(home, app, state, server, Publisher())
    make_layout(app, "0.1.0", setup.ready_file)
    yield setup
    server.stop()


class Launcher:
    """``installers/common/launcher.py serve`` in the install's HOME."""

    def __init__(self, install: Install, *args: str) -> None:
        env = isolated_env(install.home)
        self.proc = subprocess.Popen([sys.executable, str(LAUNCHER), "serve", *args], env=env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()

    def output(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.read()


def wait_ready(install: Install, version: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = read_json(install.ready_file)
        if info and info.get("version") == version:
            return info
        time.sleep(0.05)
    raise AssertionError(f"no ready.json for {version}: {read_json(install.ready_file)}")


def wait_applied(install: Install, timeout: float = 10.0) -> None:
    """Until the launcher has judged the new version healthy (the trial is cleared)."""
    deadline = time.monotonic() + timeout
    while install.layout.read_state().get("trial") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not install.layout.read_state().get("trial")


def assert_nothing_staged(install: Install, version: str) -> None:
    layout = install.layout
    assert not (layout.read_state().get("pending")), layout.read_state()
    assert not layout.version_dir(version).exists()
    assert not layout.staging_dir(version).exists() or not any(layout.staging_dir(version).iterdir())
    assert layout.current_version() == "0.1.0"


# -- staged, then applied ---------------------------------------------------------------------------


def test_good_signature_and_hashes_are_staged_then_applied_by_the_launcher(install: Install) -> None:
    name, wheel = make_wheel("0.2.0")
    install.server.publish(install.publisher, "0.2.0", {name: wheel}, dependencies_unchanged=True)
    installer = FakeInstaller(install.ready_file)

    outcome = install.updater(installer).stage()

    assert outcome.status == "staged" and outcome.version == "0.2.0"
    (request,) = installer.calls
    assert installer.wheels == [wheel] and request.dependencies_unchanged
    layout = install.layout
    pending = layout.read_state()["pending"]
    assert pending["version"] == "0.2.0" and pending["from"] == "0.1.0"
    assert pending["ready_file"] == str(install.ready_file) and pending["health_timeout"] == 10.0
    assert layout.script("0.2.0").exists() and layout.current_version() == "0.1.0"
    assert not layout.staging_dir("0.2.0").exists()  # the verified downloads are gone once built
    assert json.loads((layout.version_dir("0.2.0") / "version.json").read_text())["version"] == "0.2.0"
    assert layout.read_state()["last_check"]["available"] == "0.2.0"
    # Staging again is a no-op: the same signed manifest is already pending.
    assert install.updater(installer).stage().status == "already" and len(installer.calls) == 1

    launcher = Launcher(install)
    try:
        ready = wait_ready(install, "0.2.0")
        assert ready["pid"] != launcher.proc.pid  # the launcher stays the agent's parent
        wait_applied(install)
        assert layout.current_version() == "0.2.0"
        assert layout.previous_version() == "0.1.0"
        assert os.readlink(install.app / "current") == "versions/0.2.0"  # relative links
        state = layout.read_state()
        assert state.get("pending") is None and state.get("trial") is None and not state.get("failed")
        assert "serve" in (layout.version_dir("0.2.0") / "venv/bin/runs.log").read_text()
    finally:
        code = launcher.stop()
    assert code in (0, 128 + signal.SIGTERM, 143, -signal.SIGTERM)  # SIGTERM forwarded to the agent
    actions = install.actions()
    assert [a["action"] for a in actions] == ["update.staged", "update.applied"]
    staged, applied = actions
    assert staged["version"] == "0.2.0" and staged["inputs"][0]["sha256"] == outcome.manifest.wheel.sha256
    assert applied["origin"] == "launcher" and applied["from_version"] == "0.1.0"
    assert install.audit.verify().intact  # the launcher's records extend the same chain


# -- refused, nothing staged ------------------------------------------------------------------------


def _bad_signature(install: Install, name: str, wheel: bytes) -> None:
    data = install.server.publish(install.publisher, "0.2.0", {name: wheel})
    install.server.routes["/compagnon/manifest.json"] = data.replace(b"0.2.0", b"0.3.0", 1)  # after signing


def _unpinned_key(install: Install, name: str, wheel: bytes) -> None:
    install.server.publish(install.publisher, "0.2.0", {name: wheel}, signer=Publisher())


def _signature_over_other_bytes(install: Install, name: str, wheel: bytes) -> None:
    install.server.publish(install.publisher, "0.2.0", {name: wheel}, sign_bytes=b"{}")


def _wrong_hash(install: Install, name: str, wheel: bytes) -> None:
    install.server.publish(install.publisher, "0.2.0", {name: wheel}, declared={name: {"sha256": "ab" * 32}})


def _wrong_size(install: Install, name: str, wheel: bytes) -> None:
    install.server.publish(install.publisher, "0.2.0", {name: wheel}, declared={name: {"size": len(wheel) - 10}})


def _too_long_without_length(install: Install, name: str, wheel: bytes) -> None:
    # No Content-Length: the stream is cut as soon as more bytes come than the manifest says.
    install.server.publish(install.publisher, "0.2.0", {name: wheel + b"\0" * 300_000},
                           declared={name: {"size": len(wheel)}})
    install.server.chunked.add(f"/compagnon/files/{name}")


def _downgrade(install: Install, name: str, wheel: bytes) -> None:
    install.server.publish(install.publisher, "0.0.9", {"compagnon-0.0.9-py3-none-any.whl": wheel}, min_agent=None)


def _wrong_product(install: Install, name: str, wheel: bytes) -> None:
    install.server.publish(install.publisher, "0.2.0", {name: wheel}, product="autre-agent")


def _oversized(install: Install, name: str, wheel: bytes) -> None:
    install.server.publish(install.publisher, "0.2.0", {name: wheel}, padding="x" * (1024 * 1024))


def _insecure_file_url(install: Install, name: str, wheel: bytes) -> None:
    install.server.publish(install.publisher, "0.2.0", {name: wheel},
                           declared={name: {"url": f"http://updates.example.fr/{name}"}})


@pytest.mark.parametrize(("tamper", "code", "words"), [
    (_bad_signature, "signature_invalid", "signature invalide"),
    (_unpinned_key, "signature_invalid", "aucune clé épinglée"),
    (_signature_over_other_bytes, "signature_invalid", "signature invalide"),
    (_wrong_hash, "hash_mismatch", "empreinte SHA-256"),
    (_wrong_size, "size_mismatch", "taille"),
    (_too_long_without_length, "size_mismatch", "taille"),
    (_downgrade, "downgrade", "version antérieure"),
    (_wrong_product, "wrong_product", "autre produit"),
    (_oversized, "manifest_too_large", "trop volumineux"),
    (_insecure_file_url, "insecure_url", "https"),
])
def test_refused_updates_stage_nothing(install: Install, tamper, code: str, words: str) -> None:  # type: ignore[no-untyped-def]
    name, wheel = make_wheel("0.2.0")
    tamper(install, name, wheel)
    installer = FakeInstaller(install.ready_file)

    with pytest.raises(UpdateRefused) as refused:
        install.updater(installer).stage()

    assert refused.value.code == code, refused.value.message()
    assert words in refused.value.message()
    assert installer.calls == []
    assert_nothing_staged(install, "0.2.0")
    (record,) = install.actions()
    assert record["action"] == "update.refused" and record["error"] == code and record["result"] == "failed"
    assert words in record["reason"]
    if code in ("signature_invalid", "manifest_too_large"):
        # Nothing in an unverified manifest is acted upon: no file was even requested.
        assert not any(hit.startswith("/compagnon/files/") for hit in install.server.hits)
    if code not in ("hash_mismatch", "size_mismatch"):  # refused at the check (else: at the download)
        assert install.layout.read_state()["last_check"]["error"] == code


def test_an_unchanged_version_is_up_to_date_not_refused(install: Install) -> None:
    name, wheel = make_wheel("0.1.0")
    install.server.publish(install.publisher, "0.1.0", {name: wheel})
    outcome = install.updater().stage()
    assert outcome.status == "up_to_date"
    assert install.actions() == []
    assert install.layout.read_state().get("pending") is None
    assert not any(hit.startswith("/compagnon/files/") for hit in install.server.hits)


async def test_the_desktop_agent_stages_by_itself_and_says_so(install: Install) -> None:
    """agent.update.scheduler: a little after start, then every interval, the running agent checks
    and stages on its own; what it found survives a restart (the next agent shows it pending)."""
    name, wheel = make_wheel("0.2.0")
    install.server.publish(install.publisher, "0.2.0", {name: wheel}, dependencies_unchanged=True)
    settings = replace(install.settings(), update_check_interval=3600.0)
    installer = FakeInstaller(install.ready_file)
    scheduler = UpdateScheduler(settings, install.audit, installer=installer, first_delay=0.2)
    assert scheduler.view()["status"] == "not_checked" and scheduler.view()["enabled"]
    scheduler.start()
    try:
        for _ in range(300):
            if scheduler.view()["status"] in ("staged", "failed"):
                break
            await asyncio.sleep(0.1)
    finally:
        await scheduler.stop()
    view = scheduler.view()
    assert (view["status"], view["version"], view["running"]) == ("staged", "0.2.0", "0.1.0"), view
    assert view["checked_at"] and install.layout.read_state()["pending"]["version"] == "0.2.0"
    assert len(installer.calls) == 1 and [a["action"] for a in install.actions()] == ["update.staged"]
    assert install.actions()[0]["origin"] == "agent"
    # On demand ("Rechercher une mise à jour"): the same signed manifest is already pending.
    assert (await scheduler.run_now())["status"] == "staged" and len(installer.calls) == 1
    # The next start of the agent knows it, before any check.
    assert UpdateScheduler(settings, install.audit).view()["status"] == "staged"
    # A refused manifest is reported with its reason, and nothing more is staged.
    install.server.publish(install.publisher, "0.3.0", {name: wheel}, signer=Publisher())
    failed = await scheduler.run_now()
    assert failed["status"] == "failed" and "signature" in failed["reason"].lower(), failed
    assert install.layout.read_state()["pending"]["version"] == "0.2.0"
    # Off without a URL: no task, nothing checked.
    off = UpdateScheduler(Settings(state_dir=install.state_dir, update_app_dir=install.app), install.audit)
    off.start()
    assert off.view()["status"] == "disabled" and (await off.run_now())["status"] == "disabled"


def test_no_pinned_key_means_no_update(install: Install) -> None:
    name, wheel = make_wheel("0.2.0")
    install.server.publish(install.publisher, "0.2.0", {name: wheel})
    with pytest.raises(UpdateRefused) as refused:
        install.updater(keys=()).stage()
    assert refused.value.code == "disabled" and "public_keys" in refused.value.message()
    assert install.server.hits == []


# -- rolled back ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "reason"), [("exit1", "arrêt avec le code 1"), ("silent", "pas prête après 2 s")])
def test_a_version_that_does_not_come_up_is_rolled_back_and_not_retried(install: Install, mode: str,
                                                                          reason: str) -> None:
    name, wheel = make_wheel("0.2.0")
    install.server.publish(install.publisher, "0.2.0", {name: wheel})
    assert install.updater(FakeInstaller(install.ready_file, mode), health_timeout=2).stage().status == "staged"
    layout = install.layout

    launcher = Launcher(install)
    try:
        ready = wait_ready(install, "0.1.0", timeout=30)
        # The previous version runs in the launcher's own process (exec), healthy.
        assert ready["pid"] == launcher.proc.pid and launcher.proc.poll() is None
        assert layout.current_version() == "0.1.0"
        assert layout.previous_version() is None  # as it was before the attempt
        failed = layout.read_state()["failed"]
        assert list(failed) == ["0.2.0"] and reason in failed["0.2.0"]["reason"]
        assert layout.read_state().get("trial") is None and layout.read_state().get("pending") is None
        runs = (layout.version_dir("0.2.0") / "venv/bin/runs.log").read_text().splitlines()
        assert len(runs) == 1
    finally:
        launcher.stop()
    assert "retour à la version 0.1.0" in launcher.output()

    actions = install.actions()
    assert [a["action"] for a in actions] == ["update.staged", "update.rolled_back"]
    assert actions[1]["version"] == "0.2.0" and reason in actions[1]["reason"]
    assert install.audit.verify().intact

    # Never retried: neither by the updater…
    with pytest.raises(UpdateRefused) as refused:
        install.updater(FakeInstaller(install.ready_file)).stage()
    assert refused.value.code == "failed_before"
    # …nor by the launcher, which now starts 0.1.0 directly.
    install.ready_file.unlink()
    again = Launcher(install)
    try:
        assert wait_ready(install, "0.1.0")["pid"] == again.proc.pid
    finally:
        again.stop()
    assert len((layout.version_dir("0.2.0") / "venv/bin/runs.log").read_text().splitlines()) == 1
    assert layout.current_version() == "0.1.0"


def test_other_commands_never_apply_a_pending_version(install: Install) -> None:
    name, wheel = make_wheel("0.2.0")
    install.server.publish(install.publisher, "0.2.0", {name: wheel})
    install.updater().stage()
    done = subprocess.run([sys.executable, str(LAUNCHER), "audit", "verify"], env=isolated_env(install.home),
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0
    assert "audit verify" in (install.layout.version_dir("0.1.0") / "venv/bin/runs.log").read_text()
    assert install.layout.read_state()["pending"]["version"] == "0.2.0"
    assert install.layout.current_version() == "0.1.0"


def test_a_pending_version_waits_while_an_agent_already_runs(install: Install) -> None:
    name, wheel = make_wheel("0.2.0")
    install.server.publish(install.publisher, "0.2.0", {name: wheel})
    install.updater().stage()
    install.state_dir.mkdir(parents=True, exist_ok=True)
    (install.state_dir / "agent.json").write_text(json.dumps({"pid": os.getpid(), "port": 47230}))
    launcher = Launcher(install)
    try:
        assert wait_ready(install, "0.1.0")["pid"] == launcher.proc.pid  # the running version, exec'd
    finally:
        launcher.stop()
    state = install.layout.read_state()
    assert state["pending"]["version"] == "0.2.0" and not state.get("failed") and not state.get("trial")
    assert install.layout.current_version() == "0.1.0"
    assert not (install.layout.version_dir("0.2.0") / "venv/bin/runs.log").exists()


def test_a_pending_version_is_dropped_when_a_manual_install_changed_current(install: Install) -> None:
    name, wheel = make_wheel("0.2.0")
    install.server.publish(install.publisher, "0.2.0", {name: wheel})
    install.updater().stage()
    # An installer put 0.1.5 in place meanwhile (installers/README.md: the launcher drops the update).
    from tests.support.update import write_fake_version

    write_fake_version(install.app, "0.1.5", install.ready_file)
    os.replace(install.app / "current", install.app / "old-current")
    os.symlink("versions/0.1.5", install.app / "current")
    launcher = Launcher(install)
    try:
        assert wait_ready(install, "0.1.5")["pid"] == launcher.proc.pid
    finally:
        launcher.stop()
    state = install.layout.read_state()
    assert state.get("pending") is None and not state.get("failed")
    assert install.layout.current_version() == "0.1.5"
    refused = install.actions()[-1]
    assert refused["action"] == "update.refused" and refused["origin"] == "launcher"
    assert "0.1.5" in refused["reason"]


# -- the command line, with the real installer (python -m venv + pip --no-index) --------------------


def test_cli_check_apply_status_then_the_launcher_runs_the_real_venv(install: Install) -> None:
    name, wheel = make_wheel("0.2.0")
    install.server.publish(install.publisher, "0.2.0", {name: wheel})
    install.write_config()
    env = isolated_env(install.home)

    def compagnon(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "agent", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=timeout)

    check = compagnon("update", "check")
    assert check.returncode == 0, check.stderr
    assert "Mise à jour disponible : 0.2.0 (version en cours : 0.1.0)" in check.stdout
    assert "Compagnon 0.2.0 : corrections." in check.stdout

    apply = compagnon("update", "apply", timeout=300)
    assert apply.returncode == 0, apply.stdout + apply.stderr
    assert apply.stdout.strip() == "Mise à jour 0.2.0 prête : elle sera appliquée au prochain démarrage."

    status = compagnon("update", "status")
    assert "Mise à jour en attente : 0.2.0" in status.stdout
    assert "version active 0.1.0" in status.stdout
    as_json = json.loads(compagnon("update", "status", "--json").stdout)
    assert as_json["pending"]["version"] == "0.2.0" and as_json["enabled"] is True

    venv = install.layout.version_dir("0.2.0") / "venv"
    assert (venv / "pyvenv.cfg").exists() and (venv / "bin/compagnon").exists()
    launcher = Launcher(install)
    try:
        ready = wait_ready(install, "0.2.0")
        assert ready["argv"] == ["serve"]
        wait_applied(install)
    finally:
        launcher.stop()
    assert install.layout.current_version() == "0.2.0"

    shown = compagnon("audit", "show")
    assert "Mise à jour préparée" in shown.stdout and "Mise à jour appliquée" in shown.stdout
    assert "Journal intact" in shown.stdout


def test_venv_installer_reuses_unchanged_dependencies(tmp_path: Path) -> None:
    """``dependencies_unchanged``: the current site-packages (minus our own files) + the wheel, --no-deps."""
    from agent.update.installer import InstallRequest, VenvInstaller

    site = tmp_path / "site-packages"
    (site / "fakedep").mkdir(parents=True)
    (site / "fakedep" / "__init__.py").write_text("X = 1\n")
    staging = tmp_path / "staging"
    staging.mkdir()
    name, wheel = make_wheel("0.2.0")
    (staging / name).write_bytes(wheel)
    version_dir = tmp_path / "versions" / "0.2.0"
    version_dir.mkdir(parents=True)
    VenvInstaller(with_pip=False, site_packages=site)(
        InstallRequest("0.2.0", version_dir, staging / name, (staging / name,), staging, True))
    done = subprocess.run([str(version_dir / "venv/bin/python"), "-c",
                           "import fakedep, fakecompagnon; print(fakedep.X, fakecompagnon.VERSION)"],
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "1 0.2.0", done.stderr
    assert (version_dir / "venv/bin/compagnon").exists()


def test_cli_reports_a_refusal_in_french(install: Install) -> None:
    name, wheel = make_wheel("0.2.0")
    install.server.publish(install.publisher, "0.2.0", {name: wheel}, signer=Publisher())
    install.write_config()
    done = subprocess.run([sys.executable, "-m", "agent", "update", "check"], cwd=ROOT,
                          env=isolated_env(install.home), capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "Mise à jour refusée : signature invalide" in done.stderr


# -- agent.hello: min_version ----------------------------------------------------------------------


async def test_hello_says_update_required_below_min_version(agent: AgentProcess, platform: PlatformServer,
                                                            home: Path) -> None:
    server = ManifestServer().start()
    try:
        publisher = Publisher()
        name, wheel = make_wheel("0.2.0")
        server.publish(publisher, "0.2.0", {name: wheel})
        settings = Settings(state_dir=agent.state_dir, update_url=server.manifest_url,
                            update_public_keys=(publisher.public_b64,),
                            update_app_dir=home / ".local/share/compagnon/app")
        assert Updater(settings).check().available  # the last check: 0.2.0 is available
    finally:
        server.stop()

    validator = jsonschema.Draft202012Validator(
        {"$ref": "#/$defs/HelloResult", "$defs": json_schema_document()["$defs"]})
    async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as client:
        required = await client.hello(min_version="0.2.0")
        satisfied = await client.hello(min_version="0.1.0")
        plain = await client.hello()
        with pytest.raises(BridgeError) as invalid:
            await client.hello(min_version="deux")
    assert required["version"] == "0.1.0"
    assert required["update_required"] is True and required["update_available"] == "0.2.0"
    assert satisfied["update_required"] is False and satisfied["update_available"] == "0.2.0"
    assert plain["update_required"] is False
    assert invalid.value.code == "INVALID_PARAMS"
    for answer in (required, satisfied, plain):
        validator.validate(answer)
    # The health signal the launcher waits for.
    ready = json.loads((agent.state_dir / "ready.json").read_text())
    assert ready["pid"] == agent.proc.pid and ready["version"] == "0.1.0" and ready["port"] == agent.port
