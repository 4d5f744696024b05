"""agent.validation.chain: the trust manager of a verification is the warm system roots' index
(built once by the fork server) with a job's own anchors beside it, never more than the job's
anchors: a job that does not trust the system's roots must not get them from the warm index."""

from __future__ import annotations

from collections import Counter

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from pyhanko_certvalidator.registry import SimpleTrustManager

from agent.validation import chain
from tests.support.pki import TestPki


@pytest.fixture
def warm(monkeypatch: pytest.MonkeyPatch) -> list[asn1_x509.Certificate]:
    """The system's roots as the fork server's warm-up parses and indexes them (this test's own
    copy of the module's state)."""
    monkeypatch.setattr(chain, "_PARSED_ANCHORS", {})
    monkeypatch.setattr(chain, "_TRUST", None)
    monkeypatch.setattr(chain, "_WARM", None)
    chain.warm_up_system_roots()
    roots = list(dict.fromkeys(chain._PARSED_ANCHORS.values()))
    if len(roots) < 2:
        pytest.skip("this machine has no system trust store")
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
