"""A reindex run inside the service: a new bundle's collection built from the originals.

The embedded store admits one process, so while the service runs, the nightly pipeline asks it
(`POST /admin/reindex`) to build the candidate's collection instead of opening the store
itself. One run at a time; its state is polled with `GET /admin/reindex`. The candidate model
it loads is the one the reloader switches in later: loaded and warmed up once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from sguardo.bundle.loader import Bundle

if TYPE_CHECKING:
    from sguardo.service.app.services import Services

logger = logging.getLogger("sguardo")

State = Literal["idle", "running", "done", "failed"]


class ReindexBusyError(RuntimeError):
    pass


class ReindexStatus(BaseModel):
    """The run's state, as `GET /admin/reindex` answers it."""

    state: State = "idle"
    bundle_id: str | None = None
    source: str | None = Field(None, description="the collection copied (the alias's)")
    target: str | None = Field(None, description="the new bundle's collection")
    done: int = 0
    total: int = 0
    report: dict[str, Any] | None = None
    error: str | None = None
    started_at: str | None = None
    finished_at: str | None = None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class ReindexJob:
    def __init__(self, services: Services) -> None:
        self._services = services
        self.status = ReindexStatus()
        self._task: asyncio.Task[None] | None = None

    def start(self, bundle: Bundle) -> ReindexStatus:
        """Begin building `bundle`'s collection from the alias's; raise ReindexBusyError while
        another run is going. Re-running for the same bundle resumes (ids already copied are
        skipped)."""
        if self._task is not None and not self._task.done():
            raise ReindexBusyError(
                f"a reindex for bundle {self.status.bundle_id} is running "
                f"({self.status.done}/{self.status.total}); poll GET /admin/reindex"
            )
        self.status = ReindexStatus(
            state="running", bundle_id=bundle.bundle_id, source=self._services.settings.collection
        )
        self.status.started_at = _now()
        self._task = asyncio.create_task(self._run(bundle))
        return self.status

    async def _run(self, bundle: Bundle) -> None:
        from sguardo.service.indexing.reindex import reindex_from_originals, verify_collection

        services, status = self._services, self.status
        alias = services.settings.collection

        def progress(done: int, total: int) -> None:
            status.done, status.total = done, total

        try:
            info = await asyncio.to_thread(
                services.store.create_collection,
                alias,
                bundle.bundle_id,
                bundle.manifest.embedding_dim,
            )
            status.target = info.collection
            assert services.reloader is not None
            candidate = await services.reloader.candidate(bundle.directory)
            with candidate.lease():  # not closed under us by a newer candidate
                report = await reindex_from_originals(
                    embedder=candidate.embedder,
                    store=services.store,
                    originals=services.originals,
                    source=alias,
                    target=info.collection,
                    on_progress=progress,
                )
            verified = await asyncio.to_thread(
                verify_collection, services.store, alias, info.collection
            )
            status.report = {
                "reindex": _as_dict(report),
                "verify": _as_dict(verified),
            }
            status.state = "done"
        except Exception as exc:  # reported to the poller, not lost in a task
            logger.exception("reindex for bundle %s failed", bundle.bundle_id)
            status.state, status.error = "failed", str(exc) or type(exc).__name__
        finally:
            status.finished_at = _now()

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


def _as_dict(report: object) -> dict[str, Any]:
    if dataclasses.is_dataclass(report) and not isinstance(report, type):
        return dataclasses.asdict(report)
    return {"result": str(report)}


def resolve_bundle(reference: str, registry_root: Path) -> Path:
    """A registry entry id, or a bundle directory."""
    candidate = registry_root / "bundles" / reference
    if "/" not in reference and (candidate / "bundle.json").is_file():
        return candidate
    return Path(reference)
