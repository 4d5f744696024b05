"""The job manager starts the kinds it is given (agent/jobs/kind.py) and reaches a platform only
through the factory it is given: the job layer imports no kind and no HTTP client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.config import Settings
from agent.consent import PolicyConsent
from agent.i18n import Text
from agent.jobs.context import JobContext, JobServices
from agent.jobs.kind import JobKind, StepSpec
from agent.jobs.manager import JobManager
from agent.kinds.registry import KINDS, ModuleKinds
from bridge_protocol.errors import ErrorCode, ProtocolError
from bridge_protocol.kinds import DiagnoseParams

ORIGIN = "https://marches.example.fr"


class _Echo(JobKind):
    """Says where its platform client points (the factory's result, whatever it is)."""

    name = "echo"
    params_type = DiagnoseParams
    steps = (StepSpec("platform", Text("Plateforme", "Platform")),)

    async def run(self, ctx: JobContext, params: Any) -> Any:
        with ctx.step("platform"):
            return {"platform": str(ctx.platform)}


class _OneKind:
    def names(self) -> list[str]:
        return ["echo"]

    def load(self, name: str) -> JobKind:
        if name != "echo":
            raise ProtocolError(ErrorCode.UNKNOWN_JOB_KIND, kind=name)
        return _Echo()


class _Client:
    def __init__(self, origin: str) -> None:
        self.origin = origin

    def __str__(self) -> str:
        return f"client of {self.origin}"

    async def close(self) -> None:
        pass


def _services(tmp_path: Path) -> JobServices:
    settings = Settings(output_dir=tmp_path / "out", state_dir=tmp_path / "state")
    return JobServices(settings=settings, consent=PolicyConsent(approve=False))


async def test_the_manager_starts_only_the_kinds_it_is_given(tmp_path: Path) -> None:
    made: list[str] = []

    def factory(origin: str) -> Any:
        made.append(origin)
        return _Client(origin)

    manager = JobManager(_services(tmp_path), kinds=_OneKind(), platform_client=factory)
    assert manager.kinds.names() == ["echo"]
    job = manager.start(ORIGIN, "echo", {})
    final = await manager.wait(job.id)
    assert final.state == "succeeded" and final.result == {"platform": f"client of {ORIGIN}"}
    assert made == [ORIGIN]
    with pytest.raises(ProtocolError) as raised:
        manager.start(ORIGIN, "sign", {"files": []})  # a real kind, but not one this manager was given
    assert raised.value.code is ErrorCode.UNKNOWN_JOB_KIND


async def test_without_a_platform_client_a_job_that_needs_one_fails(tmp_path: Path) -> None:
    manager = JobManager(_services(tmp_path), kinds=_OneKind())
    final = await manager.wait(manager.start(ORIGIN, "echo", {}).id)
    assert final.state == "failed" and final.error is not None
    assert final.error["code"] == ErrorCode.INTERNAL_ERROR.value


def test_every_registered_kind_loads_under_its_own_name() -> None:
    assert KINDS.names() == sorted(KINDS.names()) and "sign" in KINDS.names()
    for name in KINDS.names():
        kind = KINDS.load(name)
        assert isinstance(kind, JobKind) and kind.name == name
    with pytest.raises(ProtocolError) as raised:
        ModuleKinds({}).load("sign")
    assert raised.value.code is ErrorCode.UNKNOWN_JOB_KIND
