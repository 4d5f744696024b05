"""HTTP to the platform that started a job, and to nothing else (docs/SECURITY.md promise 6)."""

from .client import OriginBoundClient, same_origin

__all__ = ["OriginBoundClient", "same_origin"]
