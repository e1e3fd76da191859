"""Versioned prompt templates: `prompts/<name>/<version>.j2`, loaded by `name@version`.

Templates render in a sandboxed Jinja2 environment with `StrictUndefined`, so a missing
variable fails loudly instead of silently producing an empty string. Every rendered prompt
carries `ref` = `name@version#<12 hex of sha256 of the template source>`: that string goes
into each fact's `Provenance.prompt`, so a changed template is a different prompt.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

PROMPTS_DIR = Path(str(files("shelfgraph.prompts")))  # the `prompts` package: ships with the wheel
SUFFIX = ".j2"


class PromptNotFoundError(LookupError):
    pass


@dataclass(frozen=True)
class RenderedPrompt:
    text: str
    name: str
    version: str
    ref: str  # name@version#hash: what goes into provenance

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Prompt:
    name: str
    version: str
    source: str
    path: Path

    @property
    def ref(self) -> str:
        digest = hashlib.sha256(self.source.encode("utf-8")).hexdigest()[:12]
        return f"{self.name}@{self.version}#{digest}"

    def render(self, **variables: Any) -> RenderedPrompt:
        text = _environment().from_string(self.source).render(**variables)
        return RenderedPrompt(text=text, name=self.name, version=self.version, ref=self.ref)


@cache
def _environment():
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    # keep_trailing_newline: completion prompts often end in a newline that matters.
    return SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)


def _version_key(version: str) -> tuple:
    """v2 < v10: compare digit runs as numbers."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", version))


def versions(name: str, root: Path = PROMPTS_DIR) -> list[str]:
    """Versions of prompt `name`, oldest first."""
    folder = root / name
    found = [p.name[: -len(SUFFIX)] for p in folder.glob(f"*{SUFFIX}")] if folder.is_dir() else []
    return sorted(found, key=_version_key)


def latest_version(name: str, root: Path = PROMPTS_DIR) -> str:
    found = versions(name, root)
    if not found:
        raise PromptNotFoundError(_not_found_message(name, root))
    return found[-1]


def prompt_names(root: Path = PROMPTS_DIR) -> list[str]:
    """Every folder holding templates, relative to `root` ("imputation", "qa/intent")."""
    return sorted({p.parent.relative_to(root).as_posix() for p in root.rglob(f"*{SUFFIX}")})


def load_prompt(spec: str, root: Path = PROMPTS_DIR) -> Prompt:
    """`name@version`, or `name` alone for its latest version."""
    name, _, version = spec.partition("@")
    version = version or latest_version(name, root)
    path = root / name / f"{version}{SUFFIX}"
    if not path.is_file():
        available = versions(name, root)
        if available:
            raise PromptNotFoundError(
                f"prompt {name!r} has no version {version!r} ({path}); versions: {', '.join(available)}"
            )
        raise PromptNotFoundError(_not_found_message(name, root))
    return Prompt(name=name, version=version, source=path.read_text(encoding="utf-8"), path=path)


def _not_found_message(name: str, root: Path) -> str:
    known = ", ".join(prompt_names(root)) if root.is_dir() else ""
    return f"no prompt named {name!r} under {root}; known prompts: {known or '(none)'}"
