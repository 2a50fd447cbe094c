"""Steps 7-9 (reindex, verify, swap) behind one small interface, two ways:

- `DirectRollout`: the pipeline opens the vector store and the originals itself and runs
  `service.indexing.reindex` in-process. For a Qdrant server, or the embedded store while no
  service holds it (it admits one process).
- `ServiceRollout`: the running service does the work through its admin API (`POST
  /admin/reindex`, `GET /admin/reindex`, `POST /admin/swap`, `POST /admin/reload`); the
  pipeline waits and shows the progress.

Both are resumable: the reindex skips what the target already holds, and a swap to the
collection the alias already points at changes nothing.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from sguardo.pipeline.config import StoreConfig

Progress = Callable[[int, int], None]


class RolloutError(RuntimeError):
    """The rollout cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class Serving:
    alias: str
    collection: str | None  # None: the alias does not exist yet (an empty gallery)
    bundle_id: str | None
    count: int


class Rollout(Protocol):
    async def serving(self) -> Serving: ...

    async def reindex(self, bundle_dir: Path, on_progress: Progress) -> dict[str, Any]:
        """Fill the bundle's own collection from the originals; {"target": name, ...}."""
        ...

    async def verify(self, target: str) -> dict[str, Any]: ...

    async def swap(self, target: str) -> None: ...

    async def after_promote(self, bundle_id: str) -> dict[str, Any]:
        """Tell whoever serves that the registry moved (direct: nothing to tell)."""
        ...

    async def close(self) -> None: ...


class DirectRollout:
    def __init__(self, config: StoreConfig) -> None:
        from sguardo.service.originals.filesystem import FilesystemOriginals
        from sguardo.service.store.base import StoreLockedError
        from sguardo.service.store.factory import open_store

        self.config = config
        try:
            self.store = open_store(
                config.kind,
                path=config.path,
                url=config.url,
                api_key=os.environ.get(config.api_key_env),
            )
        except StoreLockedError as exc:
            raise RolloutError(
                f"{exc} The embedded store admits one process: while the service runs on it, "
                "set store.mode: service so the service reindexes and swaps itself."
            ) from exc
        assert config.originals is not None  # checked by StoreConfig
        self.originals = FilesystemOriginals(config.originals)

    async def serving(self) -> Serving:
        from sguardo.service.store.base import CollectionNotFoundError

        try:
            info = await asyncio.to_thread(self.store.info, self.config.alias)
        except CollectionNotFoundError:
            return Serving(self.config.alias, None, None, 0)
        return Serving(self.config.alias, info.collection, info.bundle_id, info.count)

    async def reindex(self, bundle_dir: Path, on_progress: Progress) -> dict[str, Any]:
        from sguardo.bundle.loader import Bundle
        from sguardo.service.core.settings import Settings
        from sguardo.service.indexing.reindex import open_bundle_model, reindex_from_originals

        bundle = await asyncio.to_thread(Bundle.load, bundle_dir)
        current = await self.serving()
        target = await asyncio.to_thread(
            self.store.create_collection,
            self.config.alias,
            bundle.bundle_id,
            bundle.manifest.embedding_dim,
        )
        if current.collection is None:  # nothing served yet: nothing to re-embed
            return {"target": target.collection, "source": None, "total": 0, "embedded": 0}
        settings = Settings()  # SGUARDO_* as for the service: providers, batching, limits
        async with open_bundle_model(
            bundle_dir,
            store=self.store,
            originals=self.originals,
            settings=settings,
            collection=target.collection,
        ) as model:
            report = await reindex_from_originals(
                embedder=model.embedder,
                store=self.store,
                originals=self.originals,
                source=current.collection,
                target=target.collection,
                batch_size=self.config.batch_size,
                on_progress=on_progress,
            )
        await asyncio.to_thread(self.store.optimize, target.collection)
        return asdict(report)

    async def verify(self, target: str) -> dict[str, Any]:
        from sguardo.service.indexing.reindex import verify_collection

        current = await self.serving()
        if current.collection is None:
            return {"target": target, "source": None}
        report = await asyncio.to_thread(verify_collection, self.store, current.collection, target)
        return asdict(report)

    async def swap(self, target: str) -> None:
        await asyncio.to_thread(self.store.swap_alias, self.config.alias, target)

    async def after_promote(self, bundle_id: str) -> dict[str, Any]:
        return {}

    async def close(self) -> None:
        await asyncio.to_thread(self.store.close)


class ServiceRollout:
    def __init__(self, config: StoreConfig) -> None:
        import httpx

        token = os.environ.get(config.admin_token_env)
        if not token:
            raise RolloutError(
                f"store.mode service needs the service's admin token in ${config.admin_token_env}"
            )
        self.config = config
        self.client = httpx.AsyncClient(
            base_url=config.service_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=60.0,
        )

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        try:
            response = await self.client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            url = self.config.service_url
            raise RolloutError(f"cannot reach the service at {url}: {exc}") from exc
        if response.status_code >= 400:
            raise RolloutError(
                f"{method} {path} answered {response.status_code}: {response.text[:500]}"
            )
        return response.json()

    async def serving(self) -> Serving:
        version = await self._call("GET", "/version")
        return Serving(
            str(version.get("collection") or self.config.alias),  # /version's alias
            version.get("physical_collection"),
            version.get("bundle_id"),
            int(version.get("count") or 0),
        )

    async def reindex(self, bundle_dir: Path, on_progress: Progress) -> dict[str, Any]:
        from sguardo.bundle.loader import Bundle

        bundle_id = (await asyncio.to_thread(Bundle.load, bundle_dir)).bundle_id
        status = await self._call("GET", "/admin/reindex")
        ours = status.get("bundle_id") == bundle_id
        if not (ours and status.get("state") in ("running", "done")):
            # The registry id: the service resolves it in its own mount of the registry. Run
            # again for the same bundle, the service's reindex resumes.
            body = {"bundle": bundle_dir.name, "alias": self.config.alias}
            await self._call("POST", "/admin/reindex", json=body)
        deadline = time.monotonic() + self.config.timeout_s
        while True:
            status = await self._call("GET", "/admin/reindex")
            if status.get("bundle_id") == bundle_id:
                on_progress(int(status.get("done") or 0), int(status.get("total") or 0))
                if status.get("state") == "done":
                    return {"target": status["target"], **(status.get("report") or {})}
                if status.get("state") == "failed":
                    raise RolloutError(f"the service's reindex failed: {status.get('error')}")
            if time.monotonic() > deadline:
                raise RolloutError(f"the service's reindex ran over {self.config.timeout_s} s")
            await asyncio.sleep(self.config.poll_s)

    async def verify(self, target: str) -> dict[str, Any]:
        # The service verifies the counts itself before it swaps (409 on a mismatch).
        return {"target": target, "verified_by": "service, at swap"}

    async def swap(self, target: str) -> None:
        await self._call(
            "POST",
            "/admin/swap",
            json={"alias": self.config.alias, "collection": target, "force": False},
        )

    async def after_promote(self, bundle_id: str) -> dict[str, Any]:
        return dict(await self._call("POST", "/admin/reload"))

    async def close(self) -> None:
        await self.client.aclose()


def open_rollout(config: StoreConfig) -> Rollout:
    if config.mode == "service":
        return ServiceRollout(config)
    return DirectRollout(config)
