"""A training example as the tuned agent will see it: the prompt it sends, then the text the
model continues with, some of it answers (a loss is taken on their tokens) and some of it
context the decoder writes itself ("Brand:" before the value).

Agents build these (`Step.tuning_examples`) with the same code that renders their prompts at
inference, so the adapter is trained on exactly the prompt it will be asked with.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class Piece(BaseModel):
    text: str
    answer: bool = False  # a loss is taken on this piece's tokens


class TuneExample(BaseModel):
    prompt: str  # tokenised with the BOS token, like every prompt at inference
    pieces: list[Piece] = Field(default_factory=list)  # each tokenised on its own, as decoding does
    source: str | None = None  # "file:line" of the record it comes from

    @property
    def answers(self) -> list[str]:
        return [p.text for p in self.pieces if p.answer]
