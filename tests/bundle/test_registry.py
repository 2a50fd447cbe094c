"""The bundle registry: verified immutable bundles, an atomic `current` link, rollback."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import shutil
from pathlib import Path

import pytest

from sguardo.bundle.loader import Bundle
from sguardo.bundle.manifest import BundleError, read_manifest, write_manifest
from sguardo.bundle.registry import Registry, RegistryError, entry_id


def variant(source: Path, out: Path, model_id: str) -> Path:
    """A copy of `source` under another model id (and so another registry id)."""
    shutil.copytree(source, out)
    write_manifest(out, read_manifest(out).model_copy(update={"model_id": model_id}))
    return out


@pytest.fixture
def three(tiny_bundle_dir: Path, tmp_path: Path) -> list[Path]:
    return [variant(tiny_bundle_dir, tmp_path / name, f"org/{name}") for name in "abc"]


def test_add_verifies_copies_and_is_idempotent(three: list[Path], tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry")
    entry, created = registry.add(three[0])
    manifest = read_manifest(three[0])
    assert created and entry.id == f"org-a-{manifest.content_hash}" == entry_id(manifest)
    assert entry.directory == tmp_path / "registry" / "bundles" / entry.id
    read_manifest(entry.directory)  # a complete, verified copy
    again, created = registry.add(three[0])
    assert not created and again.id == entry.id
    # Read-only: a bundle is replaced by another id, never edited in place.
    assert not os.access(entry.directory / "bundle.json", os.W_OK) or os.geteuid() == 0
    assert registry.current() is None and registry.previous() == []
    assert [p.name for p in (tmp_path / "registry" / "bundles").iterdir()] == [entry.id]


def test_add_refuses_altered_or_missing_bundles(three: list[Path], tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry")
    (three[0] / "tokenizer.json").write_text("{}")
    with pytest.raises(BundleError, match=f"cannot add {three[0]}: .*altered after export"):
        registry.add(three[0])
    with pytest.raises(BundleError, match=r"bundle\.json is missing"):
        registry.add(tmp_path / "nothing")
    # No staging directory, no half-added bundle is left behind.
    assert list((tmp_path / "registry" / "bundles").iterdir()) == []


def test_promote_and_rollback(three: list[Path], tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry")
    a, b, c = (registry.add(path)[0].id for path in three)
    assert [e.id for e in registry.entries()] == [a, b, c]  # oldest export first
    assert registry.promote(a) is None
    assert registry.promote(b) == a
    assert registry.promote(b) == b  # already current: nothing changes
    assert registry.promote(c) == b
    assert registry.current() == c and registry.previous() == [a, b]
    # The link is relative, so the registry can be mounted anywhere; it loads as a bundle.
    assert os.readlink(tmp_path / "registry" / "current") == f"bundles/{c}"
    assert Bundle.load(tmp_path / "registry" / "current").model_id == "org/c"
    assert registry.rollback() == (b, c)
    assert registry.rollback() == (a, b)
    assert registry.current() == a
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        registry.rollback()
    assert registry.current() == a


def test_promote_refuses_unknown_ids_and_altered_bundles(three: list[Path], tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry")
    a = registry.add(three[0])[0].id
    for bad in ("nope", "../a", ".lock"):
        with pytest.raises(RegistryError, match=f"no bundle '{bad}'.*it has: {a}"):
            registry.promote(bad)
    tokenizer = tmp_path / "registry" / "bundles" / a / "tokenizer.json"
    tokenizer.chmod(0o644)
    tokenizer.write_text("{}")
    with pytest.raises(BundleError, match="altered after export"):
        registry.promote(a)
    assert registry.current() is None


def test_rollback_survives_a_crash_between_history_and_link(
    three: list[Path], tmp_path: Path
) -> None:
    registry = Registry(tmp_path / "registry")
    a, b, _ = (registry.add(path)[0].id for path in three)
    registry.promote(a)
    registry.promote(b)
    # As if a promote of b had written history ([a, b]) and died before swapping the link.
    (tmp_path / "registry" / "history.json").write_text(json.dumps({"previous": [a, b]}))
    assert registry.rollback() == (a, b)


def _promote_many(root: str, ids: list[str], rounds: int) -> None:
    registry = Registry(Path(root))
    for i in range(rounds):
        registry.promote(ids[i % len(ids)])


def test_concurrent_writers_never_corrupt_the_pointer(three: list[Path], tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry")
    ids = [registry.add(path)[0].id for path in three]
    registry.promote(ids[0])
    context = multiprocessing.get_context("fork")
    workers = [
        context.Process(target=_promote_many, args=(str(registry.root), ids[i:] + ids[:i], 15))
        for i in range(3)
    ]
    for worker in workers:
        worker.start()
    seen = set()
    while any(w.is_alive() for w in workers):
        current = registry.current()  # readers never see a missing or dangling link
        assert current in ids
        seen.add(current)
        read_manifest(tmp_path / "registry" / "current", verify_hashes=False)
    for worker in workers:
        worker.join()
        assert worker.exitcode == 0
    assert registry.current() in ids
    history = registry.previous()  # valid JSON, only known ids, no immediate repeats
    assert set(history) <= set(ids)
    assert all(x != y for x, y in itertools.pairwise(history))
    leftovers = [p.name for p in registry.root.iterdir() if p.name.startswith(".current")]
    assert leftovers == []
