"""The wheel's packages: the core `shelfgraph`, and the project's other top-level folders
(agents/, baselines/, eval/, hybrids/, prompts/, retrieval/) installed inside it as
`shelfgraph.agents` and so on, so installing never shadows another package named `agents` or
`eval`. A source checkout finds them beside the core (shelfgraph/__init__.py). The rest is in
pyproject.toml."""

from setuptools import find_packages, setup

PARTS = ("agents", "baselines", "eval", "hybrids", "prompts", "retrieval")

setup(
    packages=find_packages(include=["shelfgraph", "shelfgraph.*"])
    + [f"shelfgraph.{name}" for name in find_packages(include=[f"{part}*" for part in PARTS])],
    package_dir={f"shelfgraph.{part}": part for part in PARTS},
)
