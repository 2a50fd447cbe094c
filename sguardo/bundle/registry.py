"""The bundle registry: immutable versioned bundles and which one is current (torch-free).

    <registry>/
      bundles/<id>/     one verified, read-only bundle per id (`<model>-<content hash>`)
      current           symlink -> bundles/<id>: what the service serves
      history.json      {"previous": [ids]}: the bundles that were current before, oldest first
      .lock             writers hold an exclusive flock on it

`current` is a symbolic link, swapped by renaming a new link over it (rename(2) is atomic), so
every reader sees the old bundle or the new one, never neither; and the service needs no
registry code: `SGUARDO_BUNDLE_PATH=<registry>/current` is an ordinary bundle directory. The
link is relative, so the registry can be mounted at different paths (a job, the service).
The link is the truth for what is current; `history.json` (written temp + rename, before the
link) only says where a rollback goes, and entries equal to the current bundle are skipped,
so a crash between the two writes leaves a registry that still works.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sguardo.bundle.manifest import (
    MANIFEST_NAME,
    BundleError,
    Manifest,
    read_manifest,
    verify_files,
)

BUNDLES = "bundles"
CURRENT = "current"
HISTORY = "history.json"


class RegistryError(BundleError):
    """A registry operation that cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class Entry:
    id: str
    directory: Path
    manifest: Manifest


def entry_id(manifest: Manifest) -> str:
    """A directory-safe id: the same bundle content always gets the same id."""
    model = re.sub(r"[^A-Za-z0-9._-]+", "-", manifest.model_id).strip("-.") or "bundle"
    return f"{model}-{manifest.content_hash}"


class Registry:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.bundles = self.root / BUNDLES

    # --- reading (no lock: the link and history.json are only ever replaced whole)
    def entries(self) -> list[Entry]:
        """Every bundle, oldest export first."""
        found = []
        if self.bundles.is_dir():
            for directory in self.bundles.iterdir():
                if directory.name.startswith(".") or not (directory / MANIFEST_NAME).is_file():
                    continue
                found.append(
                    Entry(directory.name, directory, read_manifest(directory, verify_hashes=False))
                )
        return sorted(found, key=lambda e: (e.manifest.created_at, e.id))

    def get(self, bundle_id: str) -> Entry:
        directory = self.bundles / bundle_id
        if (
            "/" in bundle_id
            or bundle_id.startswith(".")
            or not (directory / MANIFEST_NAME).is_file()
        ):
            known = (
                ", ".join(e.id for e in self.entries())
                or "none: add one with `sguardo bundle add DIR`"
            )
            raise RegistryError(
                f"no bundle {bundle_id!r} in the registry {self.root} (it has: {known})"
            )
        return Entry(bundle_id, directory, read_manifest(directory, verify_hashes=False))

    def current(self) -> str | None:
        try:
            target = os.readlink(self.root / CURRENT)
        except FileNotFoundError:
            return None
        return Path(target).name

    def previous(self) -> list[str]:
        try:
            data = json.loads((self.root / HISTORY).read_text())
        except FileNotFoundError:
            return []
        except json.JSONDecodeError as exc:
            raise RegistryError(f"{self.root / HISTORY} is not valid JSON: {exc}") from exc
        return [str(x) for x in data.get("previous", [])]

    # --- writing
    def add(self, source: Path) -> tuple[Entry, bool]:
        """Copy a verified bundle in; (entry, False) when the same content was already there."""
        source = Path(source)
        manifest = read_manifest(source, verify_hashes=False)  # errors name the source
        bundle_id = entry_id(manifest)
        if (self.bundles / bundle_id).is_dir():
            return self.get(bundle_id), False
        self.bundles.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=self.bundles, prefix=".incoming-"))
        try:
            copy = staging / "bundle"
            shutil.copytree(source, copy, symlinks=False)
            try:
                verify_files(copy, manifest)  # what landed, not only what was there
            except BundleError as exc:
                raise RegistryError(
                    f"cannot add {source}: {exc}".replace(str(copy), str(source))
                ) from exc
            for path in copy.rglob("*"):
                if path.is_file():
                    path.chmod(0o444)  # immutable: a bundle is replaced by another id, never edited
            with self._locked():
                if (self.bundles / bundle_id).is_dir():
                    return self.get(bundle_id), False
                os.rename(copy, self.bundles / bundle_id)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return self.get(bundle_id), True

    def promote(self, bundle_id: str) -> str | None:
        """Make `bundle_id` current (verified first); returns the bundle it replaced."""
        entry = self.get(bundle_id)
        read_manifest(entry.directory, verify_hashes=True)
        with self._locked():
            was = self.current()
            if was == bundle_id:
                return was
            history = self.previous()
            if was is not None and (not history or history[-1] != was):
                history.append(was)
            self._write_history(history)
            self._point_at(bundle_id)
            return was

    def rollback(self) -> tuple[str, str | None]:
        """Make the previous current bundle current again: (now current, was current)."""
        with self._locked():
            was = self.current()
            history = self.previous()
            while history and (history[-1] == was or not (self.bundles / history[-1]).is_dir()):
                history.pop()  # a crash between history and link, or a bundle removed by hand
            if not history:
                raise RegistryError(
                    f"nothing to roll back to: no bundle was current before {was or 'now'} "
                    f"in the registry {self.root}"
                )
            target = history.pop()
            read_manifest(self.bundles / target, verify_hashes=True)
            self._write_history(history)
            self._point_at(target)
            return target, was

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            yield

    def _write_history(self, previous: list[str]) -> None:
        temp = self.root / f".{HISTORY}.{uuid.uuid4().hex}"
        temp.write_text(json.dumps({"previous": previous}, indent=2) + "\n")
        os.replace(temp, self.root / HISTORY)

    def _point_at(self, bundle_id: str) -> None:
        temp = self.root / f".{CURRENT}.{uuid.uuid4().hex}"
        os.symlink(Path(BUNDLES) / bundle_id, temp)
        os.replace(temp, self.root / CURRENT)
