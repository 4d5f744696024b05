"""The administrator's policy (agent/policy.py) merged over the user's settings by load_settings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path, PurePosixPath, PureWindowsPath

import pytest

from agent.cli import _settings
from agent.cli.parser import build_parser
from agent.config import ConfigError, Settings
from agent.policy import (
    LOCK_ALLOWED,
    LOCK_PREAPPROVED,
    POLICY_ENV,
    apply_policy,
    default_policy_path,
    load_policy,
)
from agent.settings_load import load_settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "installers" / "policy" / "compagnon-policy.example.toml"
USER_ORIGIN = "https://perso.example.fr"
ADMIN_ORIGIN = "https://marches.example.fr"

#: files(user_config_text, policy_text_or_None) -> (config path, policy path)
Files = Callable[[str, str | None], tuple[Path, Path]]


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Files:
    """Write the user's config and the admin policy (named by COMPAGNON_POLICY); return both paths."""
    config = tmp_path / "config.toml"
    policy = tmp_path / "policy.toml"
    monkeypatch.setenv(POLICY_ENV, str(policy))

    def write(user: str, admin: str | None) -> tuple[Path, Path]:
        config.write_text(user, encoding="utf-8")
        if admin is not None:
            policy.write_text(admin, encoding="utf-8")
        return config, policy

    return write


USER = f"""
[bridge]
allowed_origins = ["{USER_ORIGIN}"]
[pairing]
preapproved = ["{USER_ORIGIN}"]
[keystores]
pkcs11_modules = ["/opt/user/pkcs11.so"]
[consent]
timeout_seconds = 60
max_prompts_per_minute = 10
"""


def test_policy_origins_and_modules_are_added_to_the_users(files: Files) -> None:
    config, policy = files(USER, f"""
[bridge]
allowed_origins = ["https://Achats.Example.gouv.fr:443/"]
[pairing]
preapproved = ["{ADMIN_ORIGIN}"]
[keystores]
pkcs11_modules = ["/usr/lib/opensc-pkcs11.so"]
""")
    settings = load_settings(config)
    # Normalised, de-duplicated, the user's first; a pre-approved origin is an allowed one.
    assert settings.allowed_origins == (USER_ORIGIN, "https://achats.example.gouv.fr", ADMIN_ORIGIN)
    assert settings.preapproved_origins == (USER_ORIGIN, ADMIN_ORIGIN)
    assert settings.pkcs11_modules == (Path("/opt/user/pkcs11.so"), Path("/usr/lib/opensc-pkcs11.so"))
    assert settings.policy_path == policy
    assert settings.policy_locks == ()


def test_locked_lists_replace_the_users(files: Files) -> None:
    config, _ = files(USER, f"""
[bridge]
allowed_origins = ["{ADMIN_ORIGIN}"]
lock = true
[pairing]
preapproved = []
lock = true
""")
    settings = load_settings(config)
    assert settings.allowed_origins == (ADMIN_ORIGIN,)
    assert settings.preapproved_origins == ()
    assert set(settings.policy_locks) == {LOCK_ALLOWED, LOCK_PREAPPROVED}


def test_a_user_cannot_remove_or_widen_an_admin_locked_origin_list(files: Files) -> None:
    config, _ = files('[bridge]\nallowed_origins = []\n[pairing]\npreapproved = []\n',
                      f'[bridge]\nallowed_origins = ["{ADMIN_ORIGIN}"]\nlock = true\n')
    settings = load_settings(config)
    assert settings.allowed_origins == (ADMIN_ORIGIN,)       # the user's empty list removed nothing
    # Neither Settings.with_origins (the demo) nor `compagnon serve --allow-origin` adds a site.
    assert settings.with_origins([USER_ORIGIN], [USER_ORIGIN]).allowed_origins == (ADMIN_ORIGIN,)
    args = build_parser().parse_args(["serve", "--config", str(config), "--allow-origin", USER_ORIGIN])
    assert _settings(args).allowed_origins == (ADMIN_ORIGIN,)
    # The user's pre-approval of a site the policy does not allow is dropped.
    config.write_text(f'[pairing]\npreapproved = ["{USER_ORIGIN}"]\n', encoding="utf-8")
    assert load_settings(config).preapproved_origins == ()


def test_unlocked_policy_leaves_with_origins_working(files: Files) -> None:
    config, _ = files("", f'[bridge]\nallowed_origins = ["{ADMIN_ORIGIN}"]\n')
    settings = load_settings(config).with_origins([USER_ORIGIN])
    assert settings.allowed_origins == (ADMIN_ORIGIN, USER_ORIGIN)


def test_update_source_wins_and_consent_limits_are_ceilings(files: Files) -> None:
    admin = """
[update]
url = "https://maj.example.fr/compagnon/"
key_fingerprint = "SHA256:AB:CD:%s"
[consent]
policy = "prompt"
timeout_seconds = 90
max_prompts_per_minute = 3
""" % ("ef" * 30)
    config, policy = files(USER, admin)
    settings = load_settings(config)
    assert settings.update_url == "https://maj.example.fr/compagnon/"
    assert settings.update_key_fingerprint == "abcd" + "ef" * 30
    assert settings.consent_timeout == 60.0                 # the user's is lower: kept
    assert settings.consent_max_prompts_per_minute == 3     # the admin's ceiling
    # The policy's update source wins over one the user (or the updater) set.
    mine = Settings(update_url="https://ailleurs.example/", update_key_fingerprint="0" * 64)
    merged = apply_policy(mine, load_policy(policy))
    assert (merged.update_url, merged.update_key_fingerprint) == (settings.update_url, settings.update_key_fingerprint)


def test_consent_prompt_forbids_auto_approval_and_deny_wins(files: Files) -> None:
    config, policy = files('[consent]\npolicy = "approve-all-for-tests"\n', '[consent]\npolicy = "prompt"\n')
    assert load_settings(config).consent_policy == "prompt"
    config.write_text('[consent]\npolicy = "deny"\n', encoding="utf-8")
    assert load_settings(config).consent_policy == "deny"     # stricter than the admin's: kept
    policy.write_text('[consent]\npolicy = "deny"\n', encoding="utf-8")
    config.write_text("", encoding="utf-8")
    assert load_settings(config).consent_policy == "deny"


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("[bridge\n", "TOML invalide"),
        ("[bridge]\nallowed_origin = []\n", "clé inconnue bridge.allowed_origin"),
        ("[network]\nproxy = 'x'\n", "section inconnue [network]"),
        ("bridge = 1\n", "section"),
        ("[bridge]\nallowed_origins = ['marches.example.fr']\n", "bridge.allowed_origins"),
        ("[bridge]\nallowed_origins = [1]\n", "bridge.allowed_origins"),
        ("[bridge]\nlock = 'yes'\n", "bridge.lock"),
        ("[pairing]\npreapproved = 'https://a.fr'\n", "pairing.preapproved"),
        ("[keystores]\npkcs11_modules = ['opensc-pkcs11.so']\n", "keystores.pkcs11_modules"),
        ("[update]\nurl = 'http://maj.example.fr/'\n", "update.url"),
        ("[update]\nkey_fingerprint = 'abcd'\n", "update.key_fingerprint"),
        ("[consent]\npolicy = 'approve-all-for-tests'\n", "consent.policy"),
        ("[consent]\nmax_prompts_per_minute = 0\n", "consent.max_prompts_per_minute"),
        ("[consent]\ntimeout_seconds = true\n", "consent.timeout_seconds"),
    ],
)
def test_an_invalid_policy_is_a_config_error_naming_the_file(files: Files, text: str, detail: str) -> None:
    config, policy = files("", text)
    with pytest.raises(ConfigError) as raised:
        load_settings(config)
    assert str(policy) in str(raised.value)
    assert detail in str(raised.value)


def test_the_cli_reports_an_invalid_policy(files: Files, capsys: pytest.CaptureFixture[str]) -> None:
    from agent.cli import main

    config, policy = files("", "[bridge]\nlock = 1\n")
    assert main(["pairings", "--config", str(config)]) == 2
    assert str(policy) in capsys.readouterr().err


def test_compagnon_policy_names_the_file_and_a_missing_named_file_is_an_error(
        files: Files, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config, _ = files("", f'[bridge]\nallowed_origins = ["{ADMIN_ORIGIN}"]\n')
    assert load_settings(config).allowed_origins == (ADMIN_ORIGIN,)
    monkeypatch.setenv(POLICY_ENV, str(tmp_path / "absente.toml"))
    with pytest.raises(ConfigError, match="absente.toml"):
        load_settings(config)
    # Without the variable, the system file is read; absent, it means no policy.
    monkeypatch.delenv(POLICY_ENV)
    monkeypatch.setattr("agent.policy.default_policy_path", lambda: tmp_path / "etc" / "policy.toml")
    settings = load_settings(config)
    assert settings.policy_path is None and settings.allowed_origins == ()


def test_system_policy_locations() -> None:
    assert default_policy_path("linux") == PurePosixPath("/etc/compagnon/policy.toml")
    assert default_policy_path("darwin") == PurePosixPath("/Library/Application Support/Compagnon/policy.toml")
    assert default_policy_path("win32", {"ProgramData": r"D:\ProgramData"}) == \
        PureWindowsPath(r"D:\ProgramData\Compagnon\policy.toml")
    assert default_policy_path("win32", {}) == PureWindowsPath(r"C:\ProgramData\Compagnon\policy.toml")


def test_the_example_policy_is_valid() -> None:
    policy = load_policy(EXAMPLE)
    assert policy is not None
    assert ADMIN_ORIGIN in policy.allowed_origins and ADMIN_ORIGIN in policy.preapproved_origins
    assert policy.update_url and policy.update_url.startswith("https://")
    assert policy.update_key_fingerprint == "0" * 64
    assert policy.consent_policy == "prompt"
