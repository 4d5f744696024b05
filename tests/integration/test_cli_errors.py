"""Command-line errors that name the thing and the fix, before any password or PIN is asked, with
option values whatever their case (run in a pseudo-terminal, as a user types them: a password
prompt would show there)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiohttp import web

from agent.demo_platform.app import DemoState, create_demo_app
from tests.integration.test_key_usage import run_cli, spawn_cli
from tests.support.agent_process import free_port
from tests.support.pki import TestPki


@pytest.fixture
def p12(test_pki: TestPki) -> Path:
    return test_pki.p12("qualified", "motdepasse")


def test_a_missing_pkcs12_file_is_named_before_any_password(tmp_path: Path, home: Path) -> None:
    pdf = tmp_path / "offre.pdf"
    pdf.write_bytes(b"%PDF-1.7\n%%EOF\n")
    out = spawn_cli(home, "sign", str(pdf), "--format", "PAdES", "--p12", str(tmp_path / "nope.p12"))
    assert "FILE_NOT_FOUND" in out and "nope.p12" in out and ".p12 ou .pfx" in out, out
    assert "Mot de passe" not in out and "NO_SUCH_CERTIFICATE" not in out


def test_a_file_pades_cannot_sign_is_named_before_any_password(tmp_path: Path, home: Path, p12: Path) -> None:
    csv = tmp_path / "bpu.csv"
    csv.write_text("prix;quantité\n1;2\n", encoding="utf-8")
    out = spawn_cli(home, "sign", str(csv), "--format", "pades", "--p12", str(p12))
    assert "bpu.csv n'est pas un PDF" in out and "--format cades" in out, out
    assert "Mot de passe" not in out
    missing = spawn_cli(home, "sign", str(tmp_path / "absent.pdf"), "--format", "cades", "--p12", str(p12))
    assert "Fichier introuvable" in missing and "absent.pdf" in missing and "Mot de passe" not in missing


def test_option_values_are_case_insensitive(tmp_path: Path, home: Path, p12: Path) -> None:
    pdf = tmp_path / "offre.txt"
    pdf.write_text("offre", encoding="utf-8")
    signed = run_cli(home, "sign", str(pdf), "--format", "CAdES", "--level", "b-b", "--p12", str(p12), "--pin-stdin",
                     stdin="motdepasse\n")
    assert signed.returncode == 0, signed.stderr
    assert Path(signed.stdout.strip().splitlines()[-1]).is_file()


def test_encrypt_to_a_file_that_is_no_certificate_says_so(tmp_path: Path, home: Path) -> None:
    csv = tmp_path / "bpu.csv"
    csv.write_text("prix\n", encoding="utf-8")
    result = run_cli(home, "encrypt", str(csv), "--to", str(csv))
    assert result.returncode != 0
    assert "bpu.csv n'est pas un certificat au format PEM" in result.stderr, result.stderr
    assert "Paramètres invalides" not in result.stderr


async def test_bids_download_without_a_token_says_how_to_give_one(home: Path) -> None:
    port = free_port()
    runner = web.AppRunner(create_demo_app(DemoState()))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        result = await asyncio.to_thread(run_cli, home, "bids", "download",
                                         f"http://127.0.0.1:{port}/api/consultations/DEMO-2026-001")
    finally:
        await runner.cleanup()
    assert result.returncode != 0
    assert "demande un jeton d'accès" in result.stderr and "--token-stdin" in result.stderr, result.stderr
