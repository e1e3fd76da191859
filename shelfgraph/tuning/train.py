"""One training loop for every step kind: LoRA (peft) on the base model, a loss on the answer
tokens only.

Gemma 3's output head has 262k entries: applying it at every position costs more than the rest
of the model on these short prompts, so the model body gives the hidden states and the head
is applied only at the positions whose next token is an answer token. A choice answer (a
judge's " yes" / " no") uses only its options' rows of the head: the loss is the cross-entropy
of the softmax over the options, exactly the score `LLM.choose` reads at inference.

Every epoch ends with a validation loss; the adapter of the best epoch is the one kept. A
checkpoint (weights, optimiser, random state, position in the epoch) is written every few
minutes and at each epoch's end, so a killed tune resumes where it was; `max_minutes` stops
after the current batch with the best adapter so far. Batches follow a seeded order and the
LoRA initialisation is seeded: the same examples, settings and seed give the same adapter,
resumed or not.
"""

from __future__ import annotations

import random
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from pydantic import BaseModel, Field

from ..models import content_hash
from ..progress import RateColumn
from .example import TuneExample

CHECKPOINT = "checkpoint.pt"
IGNORE = -100  # label of a token no loss is taken on
ALL_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class TuneSettings(BaseModel):
    epochs: int = 3
    learning_rate: float = 2e-4
    batch_size: int = 8
    rank: int = 16
    alpha: int = 32
    targets: list[str] = Field(default_factory=lambda: list(ALL_LINEAR))
    layers: int | None = None  # LoRA on the top N decoder layers only (None: all): no backward pass below them
    seed: int = 0
    max_minutes: float | None = None  # stop after the batch that passes it, keeping the best so far
    checkpoint_minutes: float = 5.0
    threads: int | None = None  # torch CPU threads; None: torch's default
    device: str = "cpu"  # torch device ("cuda", "cuda:1"); `torch_device` resolves "auto"

    def resume_key(self) -> dict[str, Any]:
        """What a checkpoint must share to be resumed: not how long, on how many threads or on
        which device (a tune stopped on a GPU resumes on a CPU)."""
        return self.model_dump(exclude={"epochs", "max_minutes", "checkpoint_minutes", "threads", "device"})


def torch_device(name: str) -> str:
    """The device a tune runs on: `auto` is the first CUDA GPU torch sees, else the CPU. A
    device torch cannot use here is refused by name before the base model loads (minutes)."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"device {name!r}: {error}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r}: this torch sees no CUDA GPU (torch {torch.__version__}; "
                         "a CPU-only build, or no driver); use --device cpu")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device {name!r}: tuning runs on cpu or cuda")
    return str(device)


@dataclass
class Encoded:
    ids: list[int]
    labels: list[int]  # the token at each position where a loss is taken, IGNORE elsewhere
    choices: dict[int, list[int]] = field(default_factory=dict)  # position -> its options' token ids


@dataclass
class Score:
    loss: float
    accuracy: float  # share of answer tokens the model predicts greedily


@dataclass
class Outcome:
    """What a tune did: validation per epoch, the best epoch, time and memory."""

    initial: Score
    history: list[dict[str, Any]]
    best_epoch: int  # 0: no epoch improved on the base model
    best: Score
    stopped: str  # "done" or "time"
    seconds: float
    examples_seen: int
    peak_rss_mb: float
    weights: dict[str, Any] = field(repr=False, default_factory=dict)


def encode(examples: Sequence[TuneExample], tokenize: Callable[[str, bool], list[int]]) -> list[Encoded]:
    """Token ids as the model sees them at inference: the prompt with BOS, then each piece
    tokenised on its own (decoding adds each answer's tokens after the context's)."""
    encoded = []
    for example in examples:
        ids = tokenize(example.prompt, True)
        labels = [IGNORE] * len(ids)
        choices: dict[int, list[int]] = {}
        for piece in example.pieces:
            tokens = tokenize(piece.text, False)
            if piece.options is not None:
                choices[len(ids)] = _option_tokens(piece.options, tokenize)
            ids += tokens
            labels += tokens if piece.answer else [IGNORE] * len(tokens)
        encoded.append(Encoded(ids, labels, choices))
    return encoded


def _option_tokens(options: Sequence[str], tokenize: Callable[[str, bool], list[int]]) -> list[int]:
    """Each option's one token; options that are not one distinct token each cannot be a choice."""
    tokens = [tokenize(option, False) for option in options]
    if any(len(t) != 1 for t in tokens) or len({t[0] for t in tokens}) != len(tokens):
        raise ValueError(f"choice options must be one distinct token each: {list(options)!r} -> {tokens}")
    return [t[0] for t in tokens]


def batch_loss(causal: Any, batch: Sequence[Encoded]) -> tuple[Any, int, int]:
    """(summed cross-entropy, answer tokens, tokens predicted right) of a right-padded batch."""
    import torch
    import torch.nn.functional as F

    width = max(len(e.ids) for e in batch)
    ids = torch.zeros(len(batch), width, dtype=torch.long)
    mask = torch.zeros(len(batch), width, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    for row, example in enumerate(batch):
        n = len(example.ids)
        ids[row, :n] = torch.tensor(example.ids)
        mask[row, :n] = 1
        labels[row, :n] = torch.tensor(example.labels)
    ids, mask, labels = ids.to(causal.device), mask.to(causal.device), labels.to(causal.device)
    hidden = causal.model(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state[:, :-1]
    targets = labels[:, 1:]
    where = targets != IGNORE
    # per answer token (row-major, as hidden[where]): its options' token ids, or None (the whole vocabulary)
    options = [batch[row].choices.get(pos + 1) for row, pos in where.nonzero().tolist()]
    free = torch.tensor([o is None for o in options], dtype=torch.bool, device=hidden.device)
    states, wanted = hidden[where], targets[where]
    loss, right = torch.zeros((), device=hidden.device), 0
    if free.any():
        logits = _cap(causal, causal.lm_head(states[free]))
        loss = loss + F.cross_entropy(logits, wanted[free], reduction="sum")
        right += int((logits.argmax(-1) == wanted[free]).sum())
    if not free.all():
        chosen = [o for o in options if o is not None]
        width = max(len(o) for o in chosen)
        ids_k = torch.tensor([o + [o[0]] * (width - len(o)) for o in chosen], device=hidden.device)  # padded, masked below
        logits = _cap(causal, torch.einsum("nd,nkd->nk", states[~free], causal.lm_head.weight[ids_k]))
        padding = torch.tensor([[k >= len(o) for k in range(width)] for o in chosen], device=hidden.device)
        logits = logits.masked_fill(padding, float("-inf"))
        index = torch.tensor([o.index(int(t)) for o, t in zip(chosen, wanted[~free])], device=hidden.device)
        loss = loss + F.cross_entropy(logits, index, reduction="sum")
        right += int((logits.argmax(-1) == index).sum())
    return loss, int(wanted.numel()), right


def _cap(causal: Any, logits: Any) -> Any:
    """Gemma's final logit soft-capping, where the config sets one (as llama.cpp applies it)."""
    import torch

    cap = getattr(causal.config, "final_logit_softcapping", None)
    return torch.tanh(logits / cap) * cap if cap else logits


def evaluate(causal: Any, encoded: Sequence[Encoded], batch_size: int) -> Score:
    """Mean loss per answer token over `encoded` (shortest first: little padding)."""
    import torch

    ordered = sorted(encoded, key=lambda e: len(e.ids))
    total, tokens, correct = 0.0, 0, 0
    with torch.no_grad():
        for begin in range(0, len(ordered), batch_size):
            loss, n, right = batch_loss(causal, ordered[begin:begin + batch_size])
            total, tokens, correct = total + float(loss), tokens + n, correct + right
    return Score(round(total / max(tokens, 1), 5), round(correct / max(tokens, 1), 4))


def top_layers(count: int, layers: int | None) -> list[int] | None:
    """The indexes of the top `layers` of `count` decoder layers (None: every layer). Adapting
    only the top layers leaves autograd nothing to differentiate below them, so a training step
    skips the lower layers' backward pass."""
    if layers is None:
        return None
    if not 1 <= layers <= count:
        raise ValueError(f"layers must be between 1 and the model's {count} decoder layers, not {layers}")
    return list(range(count - layers, count))


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """The seeded order of an epoch's examples. Seeded by a string (hashed by `random`), not
    by `seed` itself: `random.Random(0)` shuffling draws the same stream as a `Random(0)` that
    chose which training triples to corrupt, and put every one of 1,763 corrupted triples
    after the first 288 of 5,878 (a tune that saw only "yes" answers)."""
    order = list(range(n))
    random.Random(f"tune-order:{seed}:{epoch}").shuffle(order)
    return order


class Trainer:
    """A LoRA-wrapped base model, its optimiser and the state a checkpoint keeps."""

    def __init__(self, base: Any, settings: TuneSettings, train: Sequence[TuneExample],
                 valid: Sequence[TuneExample], tokenize: Callable[[str, bool], list[int]], folder: Path):
        """Wraps `base` in LoRA layers in place (`peft.unload()` takes them out again)."""
        import torch
        from peft import LoraConfig, get_peft_model

        if not train or not valid:
            raise ValueError(f"tuning needs training and validation examples (got {len(train)} and {len(valid)})")
        if settings.threads:
            torch.set_num_threads(settings.threads)
        base.to(settings.device)
        torch.manual_seed(settings.seed)
        config = LoraConfig(r=settings.rank, lora_alpha=settings.alpha, lora_dropout=0.0,
                            target_modules=settings.targets, bias="none",
                            layers_to_transform=top_layers(base.config.num_hidden_layers, settings.layers))
        self.peft = get_peft_model(base, config)
        self.causal = self.peft.base_model.model
        self.params = {n: p for n, p in self.peft.named_parameters() if p.requires_grad}
        self.optimizer = torch.optim.AdamW(self.params.values(), lr=settings.learning_rate, weight_decay=0.0)
        self.settings = settings
        self.train, self.valid = encode(train, tokenize), encode(valid, tokenize)
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / CHECKPOINT
        self.key = content_hash({"train": [e.model_dump() for e in train], "valid": [e.model_dump() for e in valid],
                                 "settings": settings.resume_key()})
        self.state: dict[str, Any] = {"epoch": 0, "batch": 0, "history": [], "seconds": 0.0, "seen": 0}

    def snapshot(self) -> dict[str, Any]:
        return {n: p.detach().clone() for n, p in self.params.items()}

    def restore(self, weights: dict[str, Any]) -> None:
        import torch

        with torch.no_grad():
            for name, param in self.params.items():
                param.copy_(weights[name])

    def save(self) -> None:
        import torch

        partial = self.path.with_name(self.path.name + ".partial")
        torch.save({**self.state, "key": self.key, "weights": self.snapshot(),
                    "optimizer": self.optimizer.state_dict(), "rng": torch.get_rng_state()}, partial)
        partial.replace(self.path)

    def load(self) -> bool:
        """Resume from the checkpoint when there is one for the same examples and settings."""
        import torch

        if not self.path.is_file():
            return False
        saved = torch.load(self.path, weights_only=True, map_location=self.settings.device)
        if saved.get("key") != self.key:
            return False
        self.restore(saved.pop("weights"))
        self.optimizer.load_state_dict(saved.pop("optimizer"))
        torch.set_rng_state(saved.pop("rng").cpu())
        saved.pop("key")
        self.state = saved
        return True

    def order(self, epoch: int) -> list[int]:
        return epoch_order(len(self.train), self.settings.seed, epoch)

    def step(self, batch: Sequence[Encoded]) -> float:
        import torch

        self.peft.train()
        self.optimizer.zero_grad()
        loss, tokens, _ = batch_loss(self.causal, batch)
        mean = loss / max(tokens, 1)
        mean.backward()
        torch.nn.utils.clip_grad_norm_(self.params.values(), 1.0)
        self.optimizer.step()
        return float(mean.detach())

    def validate(self) -> Score:
        self.peft.eval()
        return evaluate(self.causal, self.valid, self.settings.batch_size * 2)


def tune(trainer: Trainer, label: str = "tune", show_progress: bool = True) -> Outcome:
    """Fit the trainer's adapter, choosing the epoch by the validation loss; resumes from its
    folder's checkpoint when one matches. The model ends up holding the best weights."""
    if not trainer.load():
        trainer.state["initial"] = vars(trainer.validate())
        trainer.state["best"] = {"epoch": 0, **trainer.state["initial"], "weights": trainer.snapshot()}
        trainer.save()
    stopped = _run_epochs(trainer, label, show_progress)
    return _outcome(trainer, stopped)


def _run_epochs(trainer: Trainer, label: str, show_progress: bool) -> str:
    """Train until the last epoch or the time limit; returns "done" or "time"."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    settings, state, n = trainer.settings, trainer.state, len(trainer.train)
    started = last_save = time.perf_counter()
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("loss {task.fields[loss]}"),
               RateColumn(), TextColumn("ETA"), TimeRemainingColumn()]
    with Progress(*columns, console=Console(stderr=True), disable=not show_progress) as progress:
        done = min(state["epoch"] * n + state["batch"] * settings.batch_size, settings.epochs * n)
        task = progress.add_task(label, total=settings.epochs * n, completed=done, loss="-")
        while state["epoch"] < settings.epochs:
            order = trainer.order(state["epoch"])
            while state["batch"] * settings.batch_size < n:
                begin = state["batch"] * settings.batch_size
                batch = [trainer.train[i] for i in order[begin:begin + settings.batch_size]]
                step_started = time.perf_counter()
                loss = trainer.step(batch)
                state["seconds"] += time.perf_counter() - step_started
                state["seen"] += len(batch)
                state["batch"] += 1
                state["last_loss"] = loss
                progress.update(task, advance=len(batch), loss=f"{loss:.3f}")
                now = time.perf_counter()
                if settings.max_minutes is not None and now - started >= settings.max_minutes * 60:
                    trainer.save()
                    return "time"
                if now - last_save >= settings.checkpoint_minutes * 60:
                    trainer.save()
                    last_save = now
            _end_epoch(trainer)
            last_save = time.perf_counter()
    return "done"


def _end_epoch(trainer: Trainer) -> None:
    state = trainer.state
    state["epoch"] += 1
    state["batch"] = 0
    score = trainer.validate()
    state["history"].append({"epoch": state["epoch"], "train_loss": round(state.get("last_loss", 0.0), 5),
                             "valid_loss": score.loss, "valid_accuracy": score.accuracy})
    if score.loss < state["best"]["loss"]:
        state["best"] = {"epoch": state["epoch"], **vars(score), "weights": trainer.snapshot()}
    trainer.save()


def _outcome(trainer: Trainer, stopped: str) -> Outcome:
    """The best adapter: the best epoch's, or, when the time ran out mid-epoch, the current
    weights if they beat it (not recorded in the checkpoint, so a resumed tune ends the same)."""
    state = trainer.state
    best = state["best"]
    weights, best_epoch, score = best["weights"], best["epoch"], Score(best["loss"], best["accuracy"])
    history = list(state["history"])
    if stopped == "time" and state["batch"]:
        current = trainer.validate()
        history.append({"epoch": round(state["epoch"] + state["batch"] * trainer.settings.batch_size
                                       / len(trainer.train), 3),
                        "train_loss": round(state.get("last_loss", 0.0), 5), "valid_loss": current.loss,
                        "valid_accuracy": current.accuracy})
        if current.loss < score.loss:
            weights, best_epoch, score = trainer.snapshot(), history[-1]["epoch"], current
    trainer.restore(weights)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return Outcome(initial=Score(**state["initial"]), history=history, best_epoch=best_epoch, best=score,
                   stopped=stopped, seconds=round(state["seconds"], 1), examples_seen=state["seen"],
                   peak_rss_mb=round(peak, 1), weights=weights)
