"""The validation stack normalises a certificate name once per encoding (agent.validation.chain):
the same string as asn1crypto's RFC 5280 section 7.1 comparison form, for every name of the
system's roots, and a new one for a name that changed."""

from __future__ import annotations

from asn1crypto import x509 as asn1_x509

from agent.trust import system_roots
from agent.validation import chain
from agent.validation.batch import prepare_certificates


def test_a_normalised_name_is_asn1cryptos_and_follows_its_encoding() -> None:
    roots = prepare_certificates(system_roots())
    assert roots, "the system has a root store"
    for cert in roots:
        for name in (cert.subject, cert.issuer):
            fresh = asn1_x509.Name.load(name.dump())
            assert fresh.hashable == chain._NAME_HASHABLE.fget(fresh.chosen)  # type: ignore[attr-defined]
            assert name.hashable == fresh.hashable
    # equal names in other encodings normalise alike; a different name differs
    a = asn1_x509.Name.build({"common_name": "Autorité  de Test", "country_name": "FR"})
    b = asn1_x509.Name.build({"common_name": "autorité de test", "country_name": "FR"}, use_printable=True)
    c = asn1_x509.Name.build({"common_name": "Autre autorité", "country_name": "FR"})
    assert a.dump() != b.dump() and a.hashable == b.hashable and a == b
    assert c.hashable != a.hashable
