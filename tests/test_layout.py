"""The floors of the house: the bundle contract at the bottom, the training side (`model/`) and
the serving side (`service/`) on it, never importing each other, and the root command and the
nightly pipeline (which spans both) above."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# package -> the sguardo packages it must not import
FORBIDDEN = {
    "sguardo/bundle": ("sguardo.model", "sguardo.service", "sguardo.cli", "sguardo.pipeline"),
    "model": ("sguardo.service", "sguardo.cli", "sguardo.pipeline"),
    "service": ("sguardo.model", "sguardo.cli", "sguardo.pipeline"),
    "sguardo/pipeline": ("sguardo.cli",),
}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_no_import_crosses_between_the_floors(folder: str) -> None:
    crossings = [
        f"{path.relative_to(REPO)} imports {name}"
        for path in sorted((REPO / folder).rglob("*.py"))
        for name in sorted(imported_modules(path))
        if name.startswith(FORBIDDEN[folder]) or name.split(".")[0] in ("model", "service")
    ]
    assert crossings == []


def test_the_repository_folders_are_the_installed_subpackages() -> None:
    for name in ("model", "service"):
        link = REPO / "sguardo" / name
        assert link.is_symlink() and link.resolve() == (REPO / name).resolve()
