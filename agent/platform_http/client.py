"""An aiohttp client bound to one web origin.

Every URL, including each redirect target, must have the scheme, host and port of the origin the
job belongs to (RFC 6454 same-origin); anything else is refused with ORIGIN_NOT_ALLOWED before a
connection is made. This closes SSRF towards the intranet, ``file:`` URLs and redirect tricks.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from yarl import URL

from ..errors import ErrorCode, ReportedError

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


def same_origin(url: URL, origin: URL) -> bool:
    """True when ``url`` has exactly the scheme, host and (effective) port of ``origin``."""
    return (
        url.scheme == origin.scheme
        and url.host is not None
        and url.host == origin.host
        and url.port == origin.port
        and not url.user
        and not url.password
    )


class OriginBoundClient:
    """HTTP requests to one origin. Use as an async context manager, or call ``close``."""

    def __init__(self, origin: str, *, timeout: float = 30.0, headers: dict[str, str] | None = None) -> None:
        self.origin = URL(origin)
        if self.origin.scheme not in ("http", "https") or not self.origin.host:
            raise ReportedError(ErrorCode.ORIGIN_NOT_ALLOWED)
        self._timeout = aiohttp.ClientTimeout(total=None, connect=timeout, sock_read=timeout)
        self._headers = headers or {}
        self._session: aiohttp.ClientSession | None = None

    def resolve(self, url: str) -> URL:
        """``url`` made absolute against the origin; refused unless same-origin."""
        try:
            target = self.origin.join(URL(url))
        except (ValueError, TypeError) as exc:
            raise ReportedError(ErrorCode.ORIGIN_NOT_ALLOWED) from exc
        if not same_origin(target, self.origin):
            log.warning("refused request outside the job's origin %s", self.origin)
            raise ReportedError(ErrorCode.ORIGIN_NOT_ALLOWED)
        return target

    def _session_for_use(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, headers=self._headers, trust_env=False, auto_decompress=False
            )
        return self._session

    @asynccontextmanager
    async def request(self, method: str, url: str, **kwargs: Any) -> AsyncIterator[aiohttp.ClientResponse]:
        """Send a request and yield the response, following same-origin redirects only."""
        target = self.resolve(url)
        session = self._session_for_use()
        for _ in range(MAX_REDIRECTS + 1):
            try:
                response = await session.request(method, target, allow_redirects=False, **kwargs)
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise ReportedError(ErrorCode.PLATFORM_UNREACHABLE) from exc
            if response.status in _REDIRECTS and "Location" in response.headers:
                location = response.headers["Location"]
                response.release()
                target = self.resolve(str(target.join(URL(location))))
                if response.status == 303:
                    method = "GET"
                continue
            try:
                yield response
            finally:
                response.release()
            return
        raise ReportedError(ErrorCode.PLATFORM_UNREACHABLE, "Trop de redirections.", "Too many redirects.")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> OriginBoundClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
