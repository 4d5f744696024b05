"""``compagnon`` on Windows CPython under Wine: the same commands, judged by Linux tools."""

from __future__ import annotations

from pathlib import Path

from agent import __version__
from tests.support.pdf import make_pdf_file
from tests.support.pki import TestPki
from tests.support.verifiers import nss_database, openssl_cms_ok, pdfsig_ok
from tests.support.wine import WinePython, unixpath, winpath


def _out(data: bytes) -> str:
    """A Windows program's piped text: it must be UTF-8 (strict decoding), lines ending in CRLF or LF."""
    return data.decode("utf-8").replace("\r\n", "\n")


def test_version(wine: WinePython) -> None:
    result = wine.agent("--version", timeout=120)
    assert result.returncode == 0, result.stderr
    assert _out(result.stdout) == f"compagnon {__version__}\n"


def test_cades_with_a_pkcs12_verified_by_openssl(wine: WinePython, win_config: Path, test_pki: TestPki,
                                                  tmp_path: Path) -> None:
    content = tmp_path / "memoire.pdf"
    content.write_bytes(b"%PDF memoire technique " * 500)
    p12 = test_pki.p12("qualified", "pw")
    result = wine.agent("sign", winpath(content), "--format", "cades", "--p12", winpath(p12), "--pin-stdin",
                        "--config", winpath(win_config), input="pw\n", timeout=180)
    assert result.returncode == 0, _out(result.stderr)
    signature = unixpath(_out(result.stdout).strip())
    assert signature.parent == tmp_path and signature.name.endswith(" - Signature 1.p7s")
    assert openssl_cms_ok(signature, content, test_pki)
    tampered = tmp_path / "modifié.pdf"
    tampered.write_bytes(content.read_bytes() + b"!")
    assert not openssl_cms_ok(signature, tampered, test_pki)


def test_pades_verified_by_pdfsig(wine: WinePython, win_config: Path, test_pki: TestPki, tmp_path: Path) -> None:
    pdf = make_pdf_file(tmp_path / "acte d'engagement.pdf", pages=2)
    result = wine.agent("sign", winpath(pdf), "--format", "pades", "--reason", "Dépôt de l'offre",
                        "--p12", winpath(test_pki.p12("qualified", "pw")), "--pin-stdin", "--config", winpath(win_config),
                        input="pw\n", timeout=180)
    assert result.returncode == 0, _out(result.stderr)
    signed = unixpath(_out(result.stdout).strip())
    assert signed.name.startswith("acte d'engagement - ") and signed.name.endswith(" - Signature 1.pdf")
    assert pdfsig_ok(signed, nss_database(tmp_path / "nss", test_pki.root_pem))


def test_french_text_is_utf8_when_piped(wine: WinePython, win_config: Path, test_pki: TestPki, tmp_path: Path) -> None:
    helped = wine.agent("--help", timeout=120)
    assert helped.returncode == 0
    assert "lancer l'agent sans icône (headless)" in _out(helped.stdout)
    content = tmp_path / "pièce.txt"
    content.write_text("pièce jointe", encoding="utf-8")
    wrong = wine.agent("sign", winpath(content), "--format", "cades", "--p12", winpath(test_pki.p12("qualified", "pw")),
                       "--pin-stdin", "--config", winpath(win_config), input="mauvais\n", timeout=180)
    assert wrong.returncode == 1
    assert "PIN_INCORRECT : Code PIN ou mot de passe incorrect." in _out(wrong.stderr)


def test_path_with_spaces_and_accents(wine: WinePython, win_config: Path, test_pki: TestPki, tmp_path: Path) -> None:
    folder = tmp_path / "Jérôme"
    folder.mkdir()
    content = make_pdf_file(folder / "Réponse AO.pdf")
    result = wine.agent("sign", winpath(content), "--format", "cades", "--p12", winpath(test_pki.p12("qualified", "pw")),
                        "--pin-stdin", "--config", winpath(win_config), input="pw\n", timeout=180)
    assert result.returncode == 0, _out(result.stderr)
    signature = unixpath(_out(result.stdout).strip())
    assert signature.parent == folder
    assert signature.name.startswith("Réponse AO.pdf - ") and signature.name.endswith(" - Signature 1.p7s")
    assert signature.is_file() and openssl_cms_ok(signature, content, test_pki)
