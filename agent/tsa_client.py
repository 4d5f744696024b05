"""RFC 3161 time-stamping client over HTTP (section 3.4), for B-T signatures and archive stamps.

The request asks for the TSA certificate and carries a random nonce; the answer must be granted,
echo the nonce and imprint exactly the digest we sent, else the timestamp is refused.
"""

from __future__ import annotations

import secrets
import urllib.error
import urllib.request

from asn1crypto import algos, tsp

from .errors import ErrorCode, ReportedError
from .signing.base import Timestamper

MAX_RESPONSE = 256 * 1024


class TimestampError(ReportedError):
    """The time-stamping authority did not give a usable token (reported as ``PLATFORM_UNREACHABLE``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(ErrorCode.PLATFORM_UNREACHABLE, f"Horodatage impossible : {reason}")


def http_timestamper(url: str, timeout: float = 20.0) -> Timestamper:
    """A Timestamper posting ``application/timestamp-query`` to ``url`` (blocking: use a thread)."""

    def timestamp(digest: bytes, hash_name: str) -> bytes:
        nonce = int.from_bytes(secrets.token_bytes(8), "big")
        request = tsp.TimeStampReq({
            "version": 1,
            "message_imprint": {"hash_algorithm": algos.DigestAlgorithm({"algorithm": hash_name}), "hashed_message": digest},
            "nonce": nonce,
            "cert_req": True,
        })
        http = urllib.request.Request(url, data=request.dump(), headers={"Content-Type": "application/timestamp-query"})
        try:
            with urllib.request.urlopen(http, timeout=timeout) as answer:  # noqa: S310 (configured TSA URL)
                body = answer.read(MAX_RESPONSE + 1)
        except (urllib.error.URLError, OSError) as exc:
            raise TimestampError(str(getattr(exc, "reason", exc))) from exc
        if len(body) > MAX_RESPONSE:
            raise TimestampError("réponse trop volumineuse")
        try:
            response = tsp.TimeStampResp.load(body)
            status = response["status"]["status"].native
            token = response["time_stamp_token"]
            info = token["content"]["encap_content_info"]["content"].parsed
        except (ValueError, TypeError, KeyError) as exc:
            raise TimestampError("réponse illisible") from exc
        if status not in ("granted", "granted_with_mods"):
            raise TimestampError(f"refusé ({status})")
        imprint = info["message_imprint"]
        if info["nonce"].native != nonce or imprint["hashed_message"].native != digest \
                or imprint["hash_algorithm"]["algorithm"].native != hash_name:
            raise TimestampError("réponse ne correspondant pas à la demande")
        return token.dump()

    return timestamp
