"""Agents for every shelfgraph step; each module registers its own through `register_steps`."""

import sys

from shelfgraph.plugins import register_package_steps


def register_steps(register) -> None:
    """Entry point of the `shelfgraph.steps` group."""
    register_package_steps(sys.modules[__name__], register)
