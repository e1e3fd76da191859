"""Hybrids for every shelfgraph step: the step kind's baseline and agent, built by name through
the registry, combined (`combine.py` has the combining as plain functions). Each module
registers its own through `register_steps`."""

import sys

from shelfgraph.plugins import register_package_steps


def register_steps(register) -> None:
    """Entry point of the `shelfgraph.steps` group."""
    register_package_steps(sys.modules[__name__], register)
