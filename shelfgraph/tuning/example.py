"""A training example as the tuned agent will see it: the prompt it sends, then the text the
model continues with, some of it answers (a loss is taken on their tokens) and some of it
context the decoder writes itself ("Brand:" before the value).

Agents build these (`Step.tuning_examples`) with the same code that renders their prompts at
inference, so the adapter is trained on exactly the prompt it will be asked with. A judge's
answer (" yes" / " no") is a choice among options: its loss is taken on those options' logits
alone, the score the judge reads at inference, so the tuned scores stay calibrated and the
adapter spends nothing on the rest of the vocabulary.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator


class Piece(BaseModel):
    text: str
    answer: bool = False  # a loss is taken on this piece's tokens
    # A judge's answer: one token among these options (`text` is one of them), the loss a
    # softmax over the options' logits only, which is the score `LLM.choose` gives at inference.
    options: list[str] | None = None

    @model_validator(mode="after")
    def _answer_is_an_option(self) -> "Piece":
        if self.options is not None and (not self.answer or self.text not in self.options):
            raise ValueError(f"a choice piece is an answer among its options: {self.text!r} not in {self.options!r}")
        return self


class TuneExample(BaseModel):
    prompt: str  # tokenised with the BOS token, like every prompt at inference
    pieces: list[Piece] = Field(default_factory=list)  # each tokenised on its own, as decoding does
    source: str | None = None  # "file:line" of the record it comes from

    @property
    def answers(self) -> list[str]:
        return [p.text for p in self.pieces if p.answer]
