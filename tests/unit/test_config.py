from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import ConfigError, normalize_origin
from agent.settings_load import load_settings


@pytest.mark.parametrize(
    ("raw", "origin"),
    [
        ("https://Marches.Example.fr", "https://marches.example.fr"),
        ("https://marches.example.fr:443/", "https://marches.example.fr"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("HTTP://localhost:80", "http://localhost"),
    ],
)
def test_origins_are_normalised_like_browsers_send_them(raw: str, origin: str) -> None:
    assert normalize_origin(raw) == origin


@pytest.mark.parametrize(
    "raw", ["marches.example.fr", "ftp://x.fr", "https://x.fr/path", "https://u:p@x.fr", "https://x.fr:99999", "null"]
)
def test_bad_origins_are_refused(raw: str) -> None:
    with pytest.raises(ConfigError):
        normalize_origin(raw)


def test_load_settings(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[bridge]\nport = 47231\nallowed_origins = ["https://A.fr"]\n[jobs]\nmax_concurrent = 3\n'
        '[consent]\npolicy = "deny"\n[paths]\nstate_dir = "' + str(tmp_path / "s") + '"\n'
    )
    settings = load_settings(path)
    assert settings.port == 47231
    assert settings.allowed_origins == ("https://a.fr",)
    assert settings.max_concurrent_jobs == 3
    assert settings.consent_policy == "deny"
    assert settings.state_dir == tmp_path / "s"


@pytest.mark.parametrize(
    "text",
    ["[bridge\n", "[bridge]\nport = 'x'\n", "[bridge]\nport = 0\n", "[consent]\npolicy = 'yes'\n",
     "[jobs]\nmax_concurrent = 0\n", "[bridge]\nallowed_origins = ['x']\n", "[bridge]\nport = true\n"],
)
def test_invalid_settings_are_reported(tmp_path: Path, text: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError):
        load_settings(path)


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_settings(tmp_path / "absent.toml")
