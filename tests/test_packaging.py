"""`pip install sguardo` adds one import name, `sguardo`, to site-packages (nothing generic such
as `model` or `service` that another distribution could collide with)."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_wheel_installs_only_the_sguardo_namespace(tmp_path: Path) -> None:
    build = ["wheel", "-q", "--no-deps", "--no-build-isolation", "--wheel-dir"]
    subprocess.run(
        [sys.executable, "-m", "pip", *build, str(tmp_path / "dist"), str(REPO)],
        check=True,
        timeout=300,
    )
    (wheel,) = (tmp_path / "dist").glob("sguardo-*.whl")
    env = tmp_path / "venv"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    before = {p.name for p in site.iterdir()}
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        timeout=300,
    )
    added = {p.name for p in site.iterdir()} - before
    assert {name for name in added if not name.endswith(".dist-info")} == {"sguardo"}
    installed = site / "sguardo"
    for part in ("bundle", "cli", "model", "service"):
        assert (installed / part / "__init__.py").is_file() and not (installed / part).is_symlink()
    assert (installed / "model" / "demo_model" / "heads.safetensors").is_file()
    assert (installed / "service" / "web" / "static" / "index.html").is_file()
    assert (installed / "service" / "embedding" / "templates_it.txt").is_file()
    # Outside the checkout, `import sguardo` finds the installed copy, not the repository.
    probe = subprocess.run(
        [python, "-c", "import sguardo; print(sguardo.__file__)"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert probe.stdout.strip() == str(installed / "__init__.py")
