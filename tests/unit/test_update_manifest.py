"""The update manifest's rules, its signature check, the update settings, and the launcher's parts
that need no process (its audit writer shares agent/audit.py's chain)."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import os
from pathlib import Path
from types import ModuleType

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.audit import AuditLog
from agent.config import ConfigError, Settings
from agent.settings_load import load_settings
from agent.update.config import UpdateSettings, manifest_url, parse_update_table, url_allowed
from agent.update.installer import copy_site_packages
from agent.update.manifest import (
    MAX_MANIFEST_BYTES,
    UpdateRefused,
    check_applicable,
    parse_manifest,
    verify_and_parse,
    verify_signature,
)
from agent.update.runtime import hello_hints
from agent.update.semver import InvalidVersion, Version, is_newer

ROOT = Path(__file__).resolve().parents[2]
URL = "https://maj.example.fr/compagnon/manifest.json"
SHA = "0123456789abcdef" * 4


def _key() -> tuple[Ed25519PrivateKey, str]:
    key = Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return key, base64.b64encode(raw).decode()


def _manifest(**members: object) -> bytes:
    doc: dict[str, object] = {
        "product": "compagnon", "version": "0.2.0", "min_agent": "0.1.0", "published": "2026-11-23T12:00:00Z",
        "files": [{"name": "compagnon-0.2.0-py3-none-any.whl", "size": 1234, "sha256": SHA,
                   "url": "files/compagnon-0.2.0-py3-none-any.whl"}],
        "notes": {"fr": "Corrections.", "en": "Fixes."},
    }
    doc.update(members)
    return json.dumps(doc).encode()


def _launcher() -> ModuleType:
    spec = importlib.util.spec_from_file_location("compagnon_launcher", ROOT / "installers/common/launcher.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- semantic versions -----------------------------------------------------------------------------


def test_semver_precedence() -> None:
    ordered = ["0.1.0", "0.2.0-alpha", "0.2.0-alpha.1", "0.2.0-alpha.beta", "0.2.0-beta.2", "0.2.0-beta.11",
               "0.2.0-rc.1", "0.2.0", "0.2.1", "0.10.0", "1.0.0"]
    parsed = [Version.parse(v) for v in ordered]
    assert parsed == sorted(reversed(parsed))  # noqa: C414 (sorting the reversed list is the point)
    assert all(a < b for a, b in zip(parsed, parsed[1:]))
    assert Version.parse("1.0.0+build.5") == Version.parse("1.0.0")
    assert is_newer("0.10.0", "0.9.9") and not is_newer("0.1.0", "0.1.0")
    assert str(Version.parse("1.2.3-rc.1+b7")) == "1.2.3-rc.1+b7"


@pytest.mark.parametrize("text", ["", "1", "1.2", "01.2.3", "1.2.3-", "1.2.3-01", "v1.2.3", "1.2.3.4", " 1.2.3"])
def test_semver_refuses_malformed_versions(text: str) -> None:
    with pytest.raises(InvalidVersion):
        Version.parse(text)


# -- the signature, before anything else -------------------------------------------------------------


def test_a_manifest_signed_by_a_pinned_key_is_parsed() -> None:
    key, public = _key()
    data = _manifest(dependencies_unchanged=True)
    manifest = verify_and_parse(data, base64.b64encode(key.sign(data)), [public], URL)
    assert manifest.version == "0.2.0" and manifest.dependencies_unchanged
    assert manifest.wheel.url == "https://maj.example.fr/compagnon/files/compagnon-0.2.0-py3-none-any.whl"
    assert manifest.digest == hashlib.sha256(data).hexdigest()
    assert manifest.note("fr") == "Corrections." and manifest.note("en") == "Fixes."


def test_any_of_several_pinned_keys_verifies() -> None:
    old, old_public = _key()
    new, new_public = _key()
    data = _manifest()
    assert verify_signature(data, base64.b64encode(new.sign(data)), [old_public, new_public]) == 1
    assert verify_signature(data, base64.b64encode(old.sign(data)), [old_public, new_public]) == 0


@pytest.mark.parametrize("case", ["unpinned", "tampered", "other_bytes", "not_base64", "short", "empty"])
def test_bad_signatures_are_refused_before_parsing(case: str) -> None:
    key, public = _key()
    stranger, _ = _key()
    data = b'{"product": "autre", "not": "even looked at"}'
    signature = {
        "unpinned": base64.b64encode(stranger.sign(data)),
        "tampered": base64.b64encode(key.sign(data + b" ")),
        "other_bytes": base64.b64encode(key.sign(b"{}")),
        "not_base64": b"%%%not base64%%%",
        "short": base64.b64encode(key.sign(data)[:32]),
        "empty": b"",
    }[case]
    with pytest.raises(UpdateRefused) as refused:
        verify_and_parse(data, signature, [public], URL)
    assert refused.value.code == "signature_invalid"  # never "wrong_product": the content was not read


def test_no_pinned_key_disables_updates() -> None:
    key, _ = _key()
    with pytest.raises(UpdateRefused) as refused:
        verify_signature(b"{}", base64.b64encode(key.sign(b"{}")), [])
    assert refused.value.code == "disabled"


def test_an_oversized_manifest_is_refused_even_if_signed() -> None:
    key, public = _key()
    data = _manifest(padding="x" * MAX_MANIFEST_BYTES)
    with pytest.raises(UpdateRefused) as refused:
        verify_and_parse(data, base64.b64encode(key.sign(data)), [public], URL)
    assert refused.value.code == "manifest_too_large"


# -- the manifest's members -------------------------------------------------------------------------


@pytest.mark.parametrize(("members", "code"), [
    ({"product": "autre"}, "wrong_product"),
    ({"version": "deux"}, "manifest_invalid"),
    ({"version": None}, "manifest_invalid"),
    ({"published": "hier"}, "manifest_invalid"),
    ({"min_agent": "0.1"}, "manifest_invalid"),
    ({"dependencies_unchanged": "oui"}, "manifest_invalid"),
    ({"files": []}, "manifest_invalid"),
    ({"files": [{"name": "../../bin/compagnon-0.2.0-py3-none-any.whl", "size": 1, "sha256": SHA, "url": "x"}]},
     "manifest_invalid"),
    ({"files": [{"name": "compagnon-0.2.0.tar.gz", "size": 1, "sha256": SHA, "url": "x"}]}, "manifest_invalid"),
    ({"files": [{"name": "compagnon-0.2.0-py3-none-any.whl", "size": 0, "sha256": SHA, "url": "x"}]},
     "manifest_invalid"),
    ({"files": [{"name": "compagnon-0.2.0-py3-none-any.whl", "size": True, "sha256": SHA, "url": "x"}]},
     "manifest_invalid"),
    ({"files": [{"name": "compagnon-0.2.0-py3-none-any.whl", "size": 1, "sha256": "zz", "url": "x"}]},
     "manifest_invalid"),
    ({"files": [{"name": "aiohttp-3.14.5-py3-none-any.whl", "size": 1, "sha256": SHA, "url": "x"}]},
     "manifest_invalid"),  # no wheel of the new version itself
    ({"files": [{"name": "compagnon-0.2.0-py3-none-any.whl", "size": 1, "sha256": SHA,
                 "url": "http://maj.example.fr/x.whl"}]}, "insecure_url"),
    ({"files": [{"name": "compagnon-0.2.0-py3-none-any.whl", "size": 1, "sha256": SHA,
                 "url": "file:///etc/passwd"}]}, "insecure_url"),
])
def test_manifest_members_are_checked(members: dict, code: str) -> None:
    with pytest.raises(UpdateRefused) as refused:
        parse_manifest(_manifest(**members), URL)
    assert refused.value.code == code


def test_duplicate_file_names_are_refused() -> None:
    entry = {"name": "compagnon-0.2.0-py3-none-any.whl", "size": 1, "sha256": SHA, "url": "a"}
    with pytest.raises(UpdateRefused) as refused:
        parse_manifest(_manifest(files=[entry, entry]), URL)
    assert refused.value.code == "manifest_invalid"


def test_loopback_http_is_accepted_for_tests_only() -> None:
    manifest = parse_manifest(_manifest(), "http://127.0.0.1:8123/m/manifest.json")
    assert manifest.wheel.url.startswith("http://127.0.0.1:8123/m/files/")
    assert url_allowed("http://[::1]:80/x") and url_allowed("http://localhost/x")
    assert not url_allowed("http://10.0.0.1/x") and not url_allowed("http://127.0.0.1.nip.io/x")
    assert not url_allowed("https://user:pw@maj.example.fr/x") and not url_allowed("ftp://maj.example.fr/x")


# -- the rules against the running version -----------------------------------------------------------


def test_versions_must_go_up() -> None:
    manifest = parse_manifest(_manifest(), URL)
    assert check_applicable(manifest, "0.1.0") is True
    assert check_applicable(manifest, "0.2.0") is False  # up to date: nothing to do, not an error
    assert check_applicable(manifest, "0.2.0-rc.1") is True
    for running in ("0.2.1", "0.10.0", "1.0.0"):
        with pytest.raises(UpdateRefused) as refused:
            check_applicable(manifest, running)
        assert refused.value.code == "downgrade"


def test_min_agent_and_failed_versions() -> None:
    manifest = parse_manifest(_manifest(min_agent="0.1.5"), URL)
    with pytest.raises(UpdateRefused) as refused:
        check_applicable(manifest, "0.1.0")
    assert refused.value.code == "min_agent"
    with pytest.raises(UpdateRefused) as refused:
        check_applicable(parse_manifest(_manifest(), URL), "0.1.0", {"0.2.0"})
    assert refused.value.code == "failed_before"


# -- settings -----------------------------------------------------------------------------------------


def test_update_table_of_config_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPAGNON_POLICY", str(tmp_path / "no-policy.toml"))
    (tmp_path / "no-policy.toml").write_text("")
    _, public = _key()
    config = tmp_path / "config.toml"
    config.write_text(f'[update]\nurl = "{URL}"\npublic_keys = ["{public}"]\nhealth_timeout_seconds = 12\n'
                      f'app_dir = "{tmp_path / "app"}"\n')
    settings = load_settings(config)
    update = UpdateSettings.from_settings(settings)
    assert update.enabled and update.url == URL and update.public_keys == (public,)
    assert update.health_timeout == 12.0 and update.app_dir == tmp_path / "app"
    assert not UpdateSettings.from_settings(Settings()).enabled  # built-in default: no key, no update


@pytest.mark.parametrize(("table", "words"), [
    ({"url": "http://maj.example.fr/manifest.json"}, "https"),
    ({"public_keys": ["pas une clé"]}, "base64"),
    ({"public_keys": [base64.b64encode(b"x" * 31).decode()]}, "32 octets"),
    ({"public_keys": "une seule"}, "liste"),
    ({"health_timeout_seconds": 0}, "entre 1 et 600"),
    ({"url_typo": "x"}, "clé inconnue"),
])
def test_update_table_errors(table: dict, words: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_update_table(table)
    assert words in str(error.value)


def test_admin_fingerprint_keeps_only_the_matching_key() -> None:
    key_a, public_a = _key()
    _, public_b = _key()
    raw_a = base64.b64decode(public_a)
    spki_a = key_a.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
    for fingerprint in (hashlib.sha256(raw_a).hexdigest(), hashlib.sha256(spki_a).hexdigest()):
        settings = Settings(update_url="https://maj.example.fr/compagnon/", update_key_fingerprint=fingerprint,
                            update_public_keys=(public_a, public_b))
        update = UpdateSettings.from_settings(settings)
        assert update.public_keys == (public_a,)
        assert update.url == "https://maj.example.fr/compagnon/manifest.json"  # a folder URL
    unknown = Settings(update_url=URL, update_key_fingerprint="0" * 64, update_public_keys=(public_a,))
    update = UpdateSettings.from_settings(unknown)
    assert not update.enabled and "politique d'administration" in update.disabled_reason()


def test_manifest_url_of_a_folder() -> None:
    assert manifest_url("https://maj.example.fr") == "https://maj.example.fr/manifest.json"
    assert manifest_url("https://maj.example.fr/c/") == "https://maj.example.fr/c/manifest.json"
    assert manifest_url(URL) == URL


# -- agent.hello's hints ------------------------------------------------------------------------------


def test_hello_hints_from_the_last_check(tmp_path: Path) -> None:
    assert hello_hints(tmp_path, "0.2.0", running="0.1.0") == (True, None)
    assert hello_hints(tmp_path, "0.1.0", running="0.1.0") == (False, None)
    assert hello_hints(tmp_path, None, running="0.1.0") == (False, None)
    state = tmp_path / "update-state.json"
    state.write_text(json.dumps({"last_check": {"available": "0.2.0"}}))
    assert hello_hints(tmp_path, "0.1.0-rc.1", running="0.1.0") == (False, "0.2.0")
    assert hello_hints(tmp_path, None, running="0.2.0") == (False, None)  # not newer than the running one
    state.write_text(json.dumps({"last_check": {"available": "0.2.0"}, "failed": {"0.2.0": {}}}) + " ")
    assert hello_hints(tmp_path, None, running="0.1.0") == (False, None)  # failed here: not offered


# -- the launcher's audit writer and command detection -------------------------------------------------


def test_launcher_and_agent_extend_one_audit_chain(tmp_path: Path) -> None:
    launcher = _launcher()
    journal = AuditLog(tmp_path / "audit")
    journal.append({"action": "sign", "origin": "cli:"})
    launcher.audit_append(tmp_path / "audit", {"action": "update.applied", "origin": "launcher", "version": "0.2.0"})
    journal.append({"action": "update.staged", "origin": "cli:", "reason": "é ✓"})
    launcher.audit_append(tmp_path / "audit", {"action": "update.rolled_back", "reason": "arrêt — code 1"})
    result = journal.verify()
    assert result.intact and result.entries == 4, result.message()
    assert [e["seq"] for e in journal.entries()] == [1, 2, 3, 4]
    assert oct((tmp_path / "audit" / "audit.jsonl").stat().st_mode & 0o777) == "0o600"
    # After a damaged last line both writers chain on in the same way.
    with (tmp_path / "audit" / "audit.jsonl").open("ab") as stream:
        stream.write(b'{"half a line')
    launcher.audit_append(tmp_path / "audit", {"action": "update.applied"})
    journal.append({"action": "sign"})
    lines = (tmp_path / "audit" / "audit.jsonl").read_bytes().splitlines()
    assert json.loads(lines[-1])["prev"] == hashlib.sha256(lines[-2]).hexdigest()
    assert json.loads(lines[-1])["seq"] == json.loads(lines[-2])["seq"] + 1 == 7
    assert journal.verify().broken is not None and journal.verify().broken.seq == 5  # the damage is reported


@pytest.mark.parametrize(("args", "applies"), [
    (["serve"], True), (["serve", "--port", "47231"], True), (["tray"], True), (["-v", "serve"], True),
    ([], False), (["sign", "serve.pdf"], False), (["serve", "--help"], False), (["--version"], False),
    (["update", "status"], False), (["demo"], False),
])
def test_launcher_applies_updates_only_when_the_agent_starts(args: list[str], applies: bool) -> None:
    assert _launcher().wants_update(args) is applies


def test_launcher_default_folders_follow_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    launcher = _launcher()
    monkeypatch.delenv("COMPAGNON_APP_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    import platformdirs

    assert launcher.app_dir() == Path(platformdirs.user_data_dir("compagnon", appauthor=False)) / "app"
    assert launcher.state_dir() == Path(platformdirs.user_state_dir("compagnon", appauthor=False))
    monkeypatch.setenv("COMPAGNON_APP_DIR", str(tmp_path / "elsewhere"))
    assert launcher.app_dir() == tmp_path / "elsewhere"


def test_launcher_switches_links_atomically(tmp_path: Path) -> None:
    launcher = _launcher()
    for version in ("0.1.0", "0.2.0"):
        (tmp_path / "versions" / version).mkdir(parents=True)
    layout = launcher.Layout(tmp_path)
    layout.set_link(layout.current_link, "0.1.0")
    layout.set_link(layout.current_link, "0.2.0")
    assert os.readlink(tmp_path / "current") == "versions/0.2.0" and layout.current() == "0.2.0"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["current", "versions"]  # no temporary left
    os.symlink("/etc", tmp_path / "previous")
    assert layout.previous() is None  # a link outside versions/ names no version


# -- the installer's copy of unchanged dependencies ---------------------------------------------------


def test_copy_site_packages_leaves_out_our_own_files(tmp_path: Path) -> None:
    source, target = tmp_path / "old", tmp_path / "new"
    for name in ("aiohttp/__init__.py", "aiohttp-3.14.5.dist-info/METADATA", "agent/__init__.py",
                 "compagnon-0.1.0.dist-info/RECORD", "pip/__init__.py", "pip-23.2.1.dist-info/METADATA"):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(name)
    (source / "__editable__.compagnon-0.1.0.pth").write_text("/work/main\n")
    (target / "pip").mkdir(parents=True)
    (target / "pip-24.0.dist-info").mkdir()
    copy_site_packages(source, target, {"agent", "compagnon-0.1.0.dist-info", "__editable__.compagnon-0.1.0.pth"})
    assert sorted(p.name for p in target.iterdir()) == ["aiohttp", "aiohttp-3.14.5.dist-info", "pip",
                                                        "pip-24.0.dist-info"]
    assert (target / "aiohttp/__init__.py").read_text() == "aiohttp/__init__.py"
