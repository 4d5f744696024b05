"""Plain HTTP(S) downloads of public trust material (EU trusted lists), bounded in time and size.

This is not the platform client (``platform_http``): the URLs come from the agent's settings or
from a trusted list whose signature was verified, never from a page or a file being verified.
"""

from __future__ import annotations

import urllib.error
import urllib.request

from .errors import CompagnonError

MAX_BYTES = 64 * 1024 * 1024


class FetchError(CompagnonError, ConnectionError):
    """The download failed (network, HTTP status, size); code ``FETCH_FAILED``, message in French."""

    def __init__(self, message: str, english: str | None = None) -> None:
        super().__init__("FETCH_FAILED", message, english)


def fetch(url: str, timeout: float = 20.0, max_bytes: int = MAX_BYTES) -> bytes:
    """GET ``url`` (http or https only); at most ``max_bytes``."""
    if not url.startswith(("https://", "http://")):
        raise FetchError(f"adresse refusée : {url}")
    request = urllib.request.Request(url, headers={"User-Agent": "Compagnon"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (scheme checked above)
            body = response.read(max_bytes + 1)
    except (urllib.error.URLError, OSError) as exc:
        raise FetchError(f"{url} : {getattr(exc, 'reason', exc)}") from exc
    if len(body) > max_bytes:
        raise FetchError(f"{url} : réponse trop volumineuse")
    return body
