"""The Windows store's platform-independent parts: error mapping and signature encodings.

The status numbers are Windows' own (winerror.h, scarderr.h), as a smart card's key storage
provider or minidriver returns them after its PIN window; Wine has no smart-card provider to
produce them, so the mapping is checked here with the real values, including the negative form a
``SECURITY_STATUS`` (a signed LONG) takes through ctypes.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature

from agent.bridge.rpc import _error
from agent.keystores.windows_errors import store_error, store_error_code
from agent.keystores.windows_store import _ecdsa_der, signature_size
from bridge_protocol.errors import ERRORS, ErrorCode



def leaf_certificate(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Jérôme TEST")])
    now = datetime.now(UTC)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + timedelta(days=1))
            .sign(key, hashes.SHA256()))


@pytest.mark.parametrize(("status", "code"), [
    (0x8010006B, ErrorCode.PIN_INCORRECT),        # SCARD_W_WRONG_CHV
    (0x8010002A, ErrorCode.PIN_INCORRECT),        # SCARD_E_INVALID_CHV
    (0x80090033, ErrorCode.PIN_INCORRECT),        # NTE_INCORRECT_PASSWORD (strong key protection)
    (0x8010006C, ErrorCode.PIN_LOCKED),           # SCARD_W_CHV_BLOCKED
    (0x8010006F, ErrorCode.PIN_REQUIRED),         # SCARD_W_CARD_NOT_AUTHENTICATED
    (0x8010006E, ErrorCode.USER_CANCELLED),       # SCARD_W_CANCELLED_BY_USER
    (0x800704C7, ErrorCode.USER_CANCELLED),       # HRESULT_FROM_WIN32(ERROR_CANCELLED)
    (0x80090036, ErrorCode.USER_CANCELLED),       # NTE_USER_CANCELLED
    (0x80100069, ErrorCode.TOKEN_REMOVED),        # SCARD_W_REMOVED_CARD
    (0x8010000C, ErrorCode.TOKEN_REMOVED),        # SCARD_E_NO_SMARTCARD
    (0x80090016, ErrorCode.NO_SUCH_CERTIFICATE),  # NTE_BAD_KEYSET
    (0x80090005, ErrorCode.KEY_NOT_USABLE),       # NTE_BAD_DATA: no detail on a failed decryption
    (0x80090029, ErrorCode.KEY_NOT_USABLE),       # NTE_NOT_SUPPORTED
    (0x80090010, ErrorCode.KEY_NOT_USABLE),       # NTE_PERM (a non-exportable or restricted key)
    (0x12345678, ErrorCode.KEY_NOT_USABLE),       # anything else
])
def test_store_status_maps_to_the_pkcs11_codes(status: int, code: ErrorCode) -> None:
    assert store_error_code(status) is code
    signed = ctypes.c_long(status - (1 << 32) if status & 0x80000000 else status).value
    assert store_error_code(signed) is code
    error = store_error(status)
    assert error.code is code
    assert error.message("fr") == ERRORS[code].fr and error.message("en") == ERRORS[code].en


def test_wrong_pin_reads_as_on_a_token() -> None:
    assert store_error(0x8010006B).message("fr") == "Code PIN ou mot de passe incorrect."
    assert _error(1, store_error(0x8010006C), "en")["error"]["data"] == {"code": "PIN_LOCKED"}


@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.SECP384R1(), ec.SECP521R1()])
def test_cng_ecdsa_r_s_becomes_the_der_signature(curve: ec.EllipticCurve) -> None:
    """NCryptSignHash gives r||s, each as long as the curve's order (RFC 5753 section 7.2 wants DER)."""
    key = ec.generate_private_key(curve)
    digest = b"\x5a" * 32
    r, s = decode_dss_signature(key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256()))))
    size = (curve.key_size + 7) // 8
    der = _ecdsa_der(r.to_bytes(size, "big") + s.to_bytes(size, "big"))
    key.public_key().verify(der, digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    assert decode_dss_signature(der) == (r, s)


def test_signature_buffer_sizes() -> None:
    for bits in (2048, 3072):
        cert = leaf_certificate(rsa.generate_private_key(65537, bits))
        assert signature_size(cert) == bits // 8
    assert signature_size(leaf_certificate(ec.generate_private_key(ec.SECP256R1()))) == 64
    assert signature_size(leaf_certificate(ec.generate_private_key(ec.SECP521R1()))) == 132


def test_keygen_into_the_windows_store_is_refused_clearly_elsewhere(tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "XDG_STATE_HOME": str(tmp_path / "state"), "XDG_DATA_HOME": str(tmp_path / "data")}
    result = subprocess.run([sys.executable, "-m", "agent", "keygen", "--windows", "--name", "Jérôme DUPONT"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 1
    assert "INVALID_PARAMS : Le magasin de certificats Windows n'existe que sous Windows." in result.stderr
    assert not list((tmp_path / "data").rglob("*.p12"))
