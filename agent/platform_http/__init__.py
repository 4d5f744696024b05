"""HTTP to the platform that started a job, and to nothing else (DESIGN.md promise 6)."""

from .client import OriginBoundClient, same_origin

__all__ = ["OriginBoundClient", "same_origin"]
