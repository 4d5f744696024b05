"""Job kinds: one module each. The bridge, the CLI and the console all start the same kinds.

Each module holds a ``KIND`` instance of ``JobKind`` (agent/jobs/kind.py, re-exported here for the
kinds); ``registry.py`` names them, and whoever builds a job manager hands it that registry. Kinds
are imported on first use, so the agent starts without loading signing or crypto code.
"""

from __future__ import annotations

from ..jobs.kind import JobKind, StepSpec

__all__ = ["JobKind", "StepSpec"]
