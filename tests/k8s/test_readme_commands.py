"""The `helm` commands the READMEs give, run here: lint and template as written, an `install`
as `helm template` with the same arguments (no cluster can run here to install into)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from .conftest import REPO_ROOT, run_helm

SECTION = "## Deploy on Kubernetes"
# Commands that need a cluster or the network; the test only checks they are well-formed.
NOT_RUN = {"test", "dependency", "uninstall", "rollback", "status"}
CLUSTER_ONLY_FLAGS = {"--create-namespace", "--wait", "--atomic"}


def deploy_section() -> str:
    """README.md's "Deploy on Kubernetes" section."""
    readme = (REPO_ROOT / "README.md").read_text()
    assert SECTION in readme, f"README.md has no {SECTION!r} section"
    return readme.split(SECTION, 1)[1].split("\n## ", 1)[0]


def helm_commands(text: str) -> list[list[str]]:
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL):
        for line in block.splitlines():
            line = line.split("  #", 1)[0].strip()
            if line.startswith("helm "):
                commands.append(shlex.split(line)[1:])
    return commands


COMMANDS = [
    pytest.param(args, id=f"{source}: helm {' '.join(args)[:60]}")
    for source, text in [
        ("README", deploy_section()),
        ("chart README", (REPO_ROOT / "k8s" / "sguardo" / "README.md").read_text()),
        ("k8s README", (REPO_ROOT / "k8s" / "README.md").read_text()),
    ]
    for args in helm_commands(text)
]


def as_offline(args: list[str]) -> list[str] | None:
    verb = args[0]
    if verb in NOT_RUN:
        return None
    if verb == "install":
        args = ["template", *args[1:]]
    assert args[0] in {"lint", "template"}, f"unexpected command: helm {' '.join(args)}"
    return [a for a in args if a not in CLUSTER_ONLY_FLAGS]


def test_readmes_give_install_commands() -> None:
    verbs = [args[0] for args in (c.values[0] for c in COMMANDS)]
    assert verbs.count("install") >= 4 and "lint" in verbs


@pytest.mark.parametrize("args", COMMANDS)
def test_readme_helm_command_works(helm: str, chart: Path, args: list[str]) -> None:
    offline = as_offline(args)
    if offline is None:
        return
    completed = run_helm(helm, *offline, check=False)
    assert completed.returncode == 0, completed.stderr
