"""agent.validation.chain: the trust manager of a verification is the warm system roots' index
(built once by the fork server) with a job's own anchors beside it, never more than the job's
anchors: a job that does not trust the system's roots must not get them from the warm index."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from pyhanko_certvalidator.registry import SimpleTrustManager

from agent.pki import pem
from agent.validation import chain
from tests.support.pki import TestPki


def _root(name: str) -> bytes:
    """A self-signed CA certificate named ``name`` with a fresh key (DER)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(Encoding.DER)


@pytest.fixture
def warm(monkeypatch: pytest.MonkeyPatch) -> list[asn1_x509.Certificate]:
    """A system store of six roots (two of them with one name and two keys, as re-issued roots
    are), parsed and indexed by the fork server's warm-up (this test's own copy of its state)."""
    store = [_root(f"Racine système {n}") for n in range(5)] + [_root("Racine système 0")]
    monkeypatch.setattr(pem, "system_root_ders", lambda: list(store))
    monkeypatch.setattr(chain, "_PARSED_ANCHORS", {})
    monkeypatch.setattr(chain, "_TRUST", None)
    monkeypatch.setattr(chain, "_WARM", None)
    chain.warm_up_system_roots()
    roots = list(dict.fromkeys(chain._PARSED_ANCHORS.values()))
    assert len(roots) == len(store)
    return roots


def _anchors(manager: SimpleTrustManager) -> list[bytes]:
    """What ``manager`` trusts, as sorted encodings (one per anchor it indexed)."""
    return sorted(cert.dump() for cert in manager.iter_certs())


def _plain(roots: list[asn1_x509.Certificate]) -> list[bytes]:
    return _anchors(SimpleTrustManager.build(trust_roots=roots))


def _ours(test_pki: TestPki) -> asn1_x509.Certificate:
    cert = x509.load_pem_x509_certificate(test_pki.root_pem.read_bytes())
    return asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))


def test_a_jobs_own_root_is_indexed_beside_the_warm_system_roots(warm: list[asn1_x509.Certificate],
                                                                  test_pki: TestPki) -> None:
    ours = _ours(test_pki)
    both = chain._indexed([*warm, ours])
    assert isinstance(both, chain._WithMoreRoots)
    assert both.is_root(ours) and all(both.is_root(root) for root in warm)
    assert _anchors(both) == _plain([*warm, ours])
    # a root given twice (the system's own, named again by a --trust file) is indexed once
    again = [*warm, asn1_x509.Certificate.load(warm[0].dump())]
    assert _anchors(chain._indexed(again)) == _plain(again)


def test_a_job_without_the_system_roots_never_gets_them_from_the_warm_index(warm: list[asn1_x509.Certificate],
                                                                              test_pki: TestPki) -> None:
    ours = _ours(test_pki)
    alone = chain._indexed([ours])
    assert alone.is_root(ours) and not any(alone.is_root(root) for root in warm)
    # one system root left out (one whose name no other root has: not the same anchor twice)
    names = Counter(root.subject.dump() for root in warm)
    left_out = next(root for root in warm if names[root.subject.dump()] == 1)
    kept = [root for root in warm if root is not left_out]
    some = chain._indexed([*kept, ours])
    assert not some.is_root(left_out) and some.is_root(kept[0]) and some.is_root(ours)
    assert _anchors(some) == _plain([*kept, ours])
