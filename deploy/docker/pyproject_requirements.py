"""Print the requirements of pyproject.toml's extras (self-references expanded).

The images install these in a layer of their own, before the source is copied, so that a change
to the code rebuilds only the small layer that installs the project itself.

    python3 pyproject_requirements.py serve > requirements.txt
"""

from __future__ import annotations

import re
import sys
import tomllib
from collections.abc import Iterator


def requirements(project: dict, extra: str) -> Iterator[str]:
    for requirement in project["optional-dependencies"][extra]:
        own = re.fullmatch(rf"{project['name']}\[(.+)\]", requirement.replace(" ", ""))
        if own:
            for inner in own.group(1).split(","):
                yield from requirements(project, inner)
        else:
            yield requirement


def main(extras: list[str]) -> None:
    with open("pyproject.toml", "rb") as file:
        project = tomllib.load(file)["project"]
    found = list(project["dependencies"])
    for extra in extras:
        found += requirements(project, extra)
    print("\n".join(dict.fromkeys(found)))


if __name__ == "__main__":
    main(sys.argv[1:])
