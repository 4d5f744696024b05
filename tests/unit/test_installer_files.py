"""Static checks of the installer files that cannot run here (Windows, macOS) and of the browser
policy samples: per-user only (no elevation, HKCU, user folders), valid formats, one set of origins."""

from __future__ import annotations

import ast
import json
import plistlib
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSTALLERS = ROOT / "installers"
WINDOWS = INSTALLERS / "windows"
POLICY = INSTALLERS / "policy"


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8-sig")


def _origins() -> list[str]:
    """The platform origins of the example admin policy: every browser sample lists the same."""
    with (POLICY / "compagnon-policy.example.toml").open("rb") as stream:
        return tomllib.load(stream)["bridge"]["allowed_origins"]


def _iss_setup(text: str) -> dict[str, str]:
    section, values = "", {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].lower()
        elif section == "setup" and "=" in line and not line.startswith(";"):
            key, value = line.split("=", 1)
            values[key.strip().lower()] = value.strip()
    return values


def test_inno_setup_installs_per_user_without_elevation() -> None:
    text = _text(WINDOWS / "compagnon.iss")
    setup = _iss_setup(text)
    assert setup["privilegesrequired"] == "lowest"
    assert "privilegesrequiredoverridesallowed" not in setup     # no "install for all users" dialog
    assert setup["defaultdirname"] == r"{localappdata}\Compagnon"
    registry = [line for line in text.splitlines() if line.startswith("Root:")]
    assert registry and all(line.startswith("Root: HKCU;") for line in registry)
    run = [line for line in registry if r"Software\Microsoft\Windows\CurrentVersion\Run" in line]
    assert len(run) == 1 and 'ValueName: "Compagnon"' in run[0] and "uninsdeletevalue" in run[0]
    assert " tray" in run[0]
    lowered = text.lower()
    for forbidden in ("hklm", "hkey_local_machine", "hka;", "runas", "{pf}", "{commonpf}", "{autopf}",
                      "{commonappdata}", "{commonprograms}", "{commonstartup}", "privilegesrequired=admin"):
        assert forbidden not in lowered, forbidden


def test_powershell_installers_stay_in_the_users_profile() -> None:
    install = _text(WINDOWS / "install.ps1")
    uninstall = _text(WINDOWS / "uninstall.ps1")
    for text in (install, uninstall):
        lowered = text.lower()
        assert "hklm" not in lowered and "hkey_local_machine" not in lowered
        assert "runas" not in lowered and "requires -runasadministrator" not in lowered
        assert "$env:localappdata" in lowered and "$env:programfiles" not in lowered
        assert r"'HKCU:\Software\Microsoft\Windows\CurrentVersion\Run'" in text
    assert "Set-ItemProperty -Path $RunKey -Name $RunValue" in install and "tray" in install
    assert "Remove-ItemProperty -Path $RunKey -Name 'Compagnon'" in uninstall
    # The same layout as the other platforms (installers/README.md).
    assert r'"versions\$Version"' in install
    # Windows names the active version in app\current.txt, replaced in one step (MoveFileEx), no junction
    # (installers/common/launcher.py switches it the same way).
    assert "$Pointer = Join-Path $App 'current.txt'" in install and "MoveFileEx($tmp, $Pointer, 9)" in install
    assert "New-Item -ItemType Junction" not in install
    assert r'set /p VERSION=<"%ROOT%\app\current.txt"' in install
    # Windows PowerShell 5.1 reads a file without BOM as ANSI: the French texts need the BOM.
    assert (WINDOWS / "install.ps1").read_bytes().startswith(b"\xef\xbb\xbf")
    assert (WINDOWS / "uninstall.ps1").read_bytes().startswith(b"\xef\xbb\xbf")


def test_pyinstaller_spec_builds_one_folder_with_the_protocol_files() -> None:
    text = _text(WINDOWS / "compagnon.spec")
    ast.parse(text)
    assert '"agent" / "__main__.py"' in text
    assert 'collect_data_files("bridge_protocol"' in text and "schema/*.json" in text
    assert "COLLECT(" in text and "onefile" not in text.lower()
    assert "uac_admin=True" not in text and text.count("uac_admin=False") == 2
    # The .iss packages what the spec builds.
    iss = _text(WINDOWS / "compagnon.iss")
    assert 'name="compagnon"' in text and r'#define SourceDir "..\..\dist\compagnon"' in iss
    assert r'Source: "{#SourceDir}\*"' in iss


def test_launch_agent_plist_starts_the_tray_at_login() -> None:
    with (INSTALLERS / "macos" / "fr.compagnon.agent.plist").open("rb") as stream:
        agent = plistlib.load(stream)
    assert agent["Label"] == "fr.compagnon.agent"
    assert agent["RunAtLoad"] is True
    assert agent["KeepAlive"] == {"SuccessfulExit": False}           # again after a crash only
    assert agent["ProgramArguments"][0].endswith("/Compagnon/bin/compagnon")
    assert agent["ProgramArguments"][1:] == ["tray"]
    assert "UserName" not in agent and "GroupName" not in agent      # a per-user LaunchAgent
    script = _text(INSTALLERS / "macos" / "install.sh")
    assert "Library/LaunchAgents" in script
    assert "Library/Application\\ Support\n" in script and "ROOT=$SUPPORT/Compagnon\n" in script
    assert "sudo " not in script


def test_chrome_linux_policy_lists_the_platform_origins() -> None:
    policy = json.loads(_text(POLICY / "chrome" / "linux" / "compagnon.json"))
    assert policy == {"LoopbackNetworkAllowedForUrls": _origins()}


@pytest.mark.parametrize(("name", "hive"), [("compagnon-loopback.reg", "HKEY_LOCAL_MACHINE"),
                                             ("compagnon-loopback-user.reg", "HKEY_CURRENT_USER")])
def test_chrome_edge_and_chromium_windows_policy(name: str, hive: str) -> None:
    text = _text(POLICY / "chrome" / "windows" / name)
    assert text.startswith("Windows Registry Editor Version 5.00")
    assert ("HKEY_CURRENT_USER" if hive == "HKEY_LOCAL_MACHINE" else "HKEY_LOCAL_MACHINE") not in text
    for vendor in (r"Google\Chrome", r"Microsoft\Edge", "Chromium"):
        key = rf"[{hive}\SOFTWARE\Policies\{vendor}\LoopbackNetworkAllowedForUrls]"
        assert key in text
        block = text.split(key, 1)[1].split("[", 1)[0]
        values = re.findall(r'^"(\d+)"="([^"]*)"', block, flags=re.M)
        assert [v for _, v in values] == _origins()
        assert [int(n) for n, _ in values] == list(range(1, len(values) + 1))


def test_macos_browser_profile() -> None:
    with (POLICY / "chrome" / "macos" / "compagnon-loopback.mobileconfig").open("rb") as stream:
        profile = plistlib.load(stream)
    assert profile["PayloadType"] == "Configuration"
    domains = {p["PayloadType"]: p for p in profile["PayloadContent"]}
    assert set(domains) == {"com.google.Chrome", "com.microsoft.Edge", "org.chromium.Chromium"}
    uuids = {profile["PayloadUUID"], *(p["PayloadUUID"] for p in domains.values())}
    assert len(uuids) == 4
    for payload in domains.values():
        assert payload["LoopbackNetworkAllowedForUrls"] == _origins()


@pytest.mark.parametrize("name", ["linux/install.sh", "linux/uninstall.sh", "macos/install.sh"])
def test_shell_installers_never_ask_for_root(name: str) -> None:
    text = _text(INSTALLERS / name)
    assert text.startswith("#!/bin/sh\n") and "set -eu" in text
    assert "sudo " not in text and "/etc/" not in text and "/usr/local" not in text


def test_installers_never_start_the_agent_from_a_module_search_of_the_current_folder() -> None:
    """``python -m agent`` looks for modules in the folder it starts in first: an ``agent.py`` or a
    ``json.py`` there (a session started in Downloads) would run as the user. The agent starts
    through a script (the launcher, the ``compagnon`` entry point) or with ``-P``."""
    found = []
    for path in INSTALLERS.rglob("*"):
        if path.suffix in (".ps1", ".sh", ".iss", ".plist", ".py", ".cmd", ".desktop", ".service"):
            for number, line in enumerate(_text(path).splitlines(), 1):
                if re.search(r"""[\s'",]-m['",\s]+agent\b""", line) and not re.search(r"""[\s'",]-P['",\s]""", line):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, "\n".join(found)
