"""An adapter folder and its manifest: what the adapter was tuned from, checked before use.

    DIR/manifest.json   base model hash, step, prompt, training data hash, validation scores
    DIR/adapter.gguf    the LoRA adapter llama.cpp applies (in-process model, `serve-model`)
    DIR/peft/           the same weights as a PEFT folder (vLLM `--lora-modules`)

An adapter only means something on the base model and the prompt it was tuned with: opening
one for another base model, step or prompt is refused with an error saying which.

`bundled:STEP` names the adapter shipped for STEP (shelfgraph/adapters/STEP: its manifest and
GGUF only; the PEFT folder is derived from the GGUF when asked for, `export.peft_folder`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from ..errors import ModelError, UsageError
from ..stages import StepKind

MANIFEST = "manifest.json"
GGUF_ADAPTER = "adapter.gguf"
PEFT_FOLDER = "peft"
FORMAT = 1
BUNDLED = "bundled:"
BUNDLED_DIR = Path(__file__).resolve().parents[1] / "adapters"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class DataRef(BaseModel):
    path: str | None = None
    sha256: str | None = None  # of the file's bytes; None for a share split off the training file
    examples: int = 0


class EpochScore(BaseModel):
    epoch: float  # a fraction when the time limit stopped an epoch
    train_loss: float | None  # of the epoch's last batch
    valid_loss: float  # mean per answer token
    valid_accuracy: float  # share of answer tokens predicted greedily


class Validation(BaseModel):
    initial_loss: float  # the base model's, before tuning
    initial_accuracy: float
    history: list[EpochScore]
    best_epoch: float  # 0: no epoch improved on the base model (the adapter changes nothing)
    best_loss: float
    best_accuracy: float


class Manifest(BaseModel):
    format: int = FORMAT
    step: StepKind
    method: str = "agent"
    base_model: str
    base_sha256: str
    prompt: str  # name@version#hash the examples were rendered with
    step_config: dict[str, Any] = Field(default_factory=dict)
    train: DataRef
    valid: DataRef
    lora: dict[str, Any]  # rank, alpha, target modules
    training: dict[str, Any]  # settings, stop reason, seconds, examples seen, peak memory
    validation: Validation
    gguf_sha256: str
    peft_sha256: str
    size_bytes: dict[str, int] = Field(default_factory=dict)
    created_at: str

    @property
    def prompt_name(self) -> str:
        """The prompt as a step names it (name@version), without the template's hash."""
        return self.prompt.split("#")[0]

    @property
    def adapter_id(self) -> str:
        """12 hex of the GGUF adapter's hash: what names the tuned model everywhere."""
        return self.gguf_sha256[:12]

    def served_name(self) -> str:
        """The name a server serves this adapter under (vLLM `--lora-modules NAME=DIR/peft`)."""
        return f"{self.step}-{self.adapter_id}"


class Adapter(BaseModel):
    folder: Path
    manifest: Manifest

    @property
    def gguf(self) -> Path:
        return self.folder / GGUF_ADAPTER

    @property
    def peft(self) -> Path:
        return self.folder / PEFT_FOLDER

    def model_name(self, base_name: str) -> str:
        return f"{base_name}+lora:{self.manifest.adapter_id}"

    def check_base(self, sha256: str, what: str) -> None:
        if sha256 != self.manifest.base_sha256:
            raise ModelError(
                f"adapter {self.folder} was tuned on base model {self.manifest.base_model} "
                f"(sha256 {self.manifest.base_sha256[:12]}), not on {what} (sha256 {sha256[:12]}): "
                f"use that model or tune again with `shelfgraph tune`")

    def check_step(self, kind: str, prompt_ref: str) -> None:
        if kind != self.manifest.step:
            raise UsageError(f"adapter {self.folder} was tuned for step {self.manifest.step!r}, not {kind!r}")
        if prompt_ref != self.manifest.prompt:
            raise UsageError(
                f"adapter {self.folder} was tuned with prompt {self.manifest.prompt}, but the step renders "
                f"{prompt_ref}: set the step's prompt to {self.manifest.prompt_name} or tune again")


def bundled_steps() -> list[str]:
    """The steps an adapter ships for."""
    return sorted(p.parent.name for p in BUNDLED_DIR.glob(f"*/{MANIFEST}"))


def adapter_folder(ref: Path | str) -> Path:
    """The folder an adapter reference names: a path, or `bundled:STEP`."""
    text = str(ref)
    if not text.startswith(BUNDLED):
        return Path(ref)
    step = text[len(BUNDLED):]
    if step not in bundled_steps():
        raise UsageError(f"no adapter ships for step {step!r} (shipped: {', '.join(bundled_steps()) or 'none'}); "
                         f"make one with `shelfgraph tune {step or 'STEP'}`")
    return BUNDLED_DIR / step


def open_adapter(ref: Path | str) -> Adapter:
    """The adapter `ref` names (a folder or `bundled:STEP`), its GGUF file checked against the
    manifest's hash."""
    folder = adapter_folder(ref)
    path = folder / MANIFEST
    if not path.is_file():
        raise UsageError(f"{folder} is not an adapter folder (no {MANIFEST}); make one with `shelfgraph tune`")
    try:
        manifest = Manifest.model_validate_json(path.read_text(encoding="utf-8"))
    except ValidationError as error:
        first = error.errors()[0]
        raise UsageError(f"{path}: not a shelfgraph adapter manifest ({'.'.join(map(str, first['loc']))}: "
                         f"{first['msg']})") from None
    adapter = Adapter(folder=folder, manifest=manifest)
    if not adapter.gguf.is_file() or file_sha256(adapter.gguf) != manifest.gguf_sha256:
        raise ModelError(f"{adapter.gguf} is missing or does not match the hash in {path}: tune again")
    return adapter


def model_sha256(path: Path) -> str:
    """sha256 of a GGUF model, from the `.sha256` marker beside it when there is one (the
    packaged model's assembly writes it) so a 250 MB file is not hashed on every load."""
    marker = path.with_name(path.name + ".sha256")
    return marker.read_text().strip() if marker.is_file() else file_sha256(path)
