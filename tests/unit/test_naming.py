"""Output names as the reference platform writes them."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from agent.kinds.sign import _content_name, _output_extension
from agent.signing.naming import OutputNames, signature_output_path
from bridge_protocol.kinds import SignFileParams

NOW = datetime(2020, 11, 2, 14, 40, 25)


def test_pades_keeps_the_stem_and_tokens_keep_the_full_name(tmp_path: Path) -> None:
    pdf = tmp_path / "0-Lettre informative.pdf"
    assert signature_output_path(pdf, "pdf", keep_extension=False, now=NOW).name == \
        "0-Lettre informative - 20201102144025 - Signature 1.pdf"
    assert signature_output_path(tmp_path / "COMPLEMENT.zip", "xml", now=NOW).name == \
        "COMPLEMENT.zip - 20201102144025 - Signature 1.xml"


def test_the_number_follows_existing_and_reserved_signatures(tmp_path: Path) -> None:
    source = tmp_path / "offre.pdf"
    (tmp_path / "offre.pdf - 20200101000000 - Signature 1.p7s").touch()
    (tmp_path / "offre.pdf - 20200102000000 - Signature 3.p7s").touch()
    (tmp_path / "offre.pdf - 20200102000000 - Signature 9.xml").touch()  # another extension
    (tmp_path / "autre.pdf - 20200102000000 - Signature 7.p7s").touch()  # another file
    assert signature_output_path(source, "p7s", now=NOW).name.endswith("Signature 4.p7s")
    names = OutputNames(NOW)  # a batch: names handed out count as taken before they exist
    assert names.next(source, "p7s").name.endswith("Signature 4.p7s")
    assert names.next(source, "p7s").name.endswith("Signature 5.p7s")
    out = tmp_path / "choisi"
    assert signature_output_path(source, "p7s", out, now=NOW).parent == out


def test_cosigned_containers_keep_their_extension() -> None:
    params = SignFileParams(format="cades")
    assert _output_extension(params, Path("memoire.pdf - 20201102144025 - Signature 1.xp7s"), "cosign") == ("xp7s", False)
    assert _content_name("memoire.pdf - 20201102144025 - Signature 1.xp7s") == "memoire.pdf"
    assert _content_name("signature-klesign.xp7s") == "signature-klesign"
    assert _output_extension(SignFileParams(format="cades", attached=True), Path("a.zip"), "sign") == ("p7m", True)
    assert _output_extension(SignFileParams(format="xades", pes=True), Path("pes.xml"), "sign") == ("xml", False)
