"""The LLM layer: one small surface every agent uses (see `core.LLM`).

    llm = get_llm(LLMConfig(), home)
    llm.structured(prompt, Model)            -> Result[Model]
    llm.choose(prompt, ["yes", "no"])        -> Choice(option, confidence, logprobs)
    llm.extract_spans(prompt, text, attrs)   -> Result[{attribute: Span | None}]
    grounded_model(text, attrs)              -> a response model admitting only spans of text

A `Backend` (backend.py) is what the verbs run on: the in-process model or a server.
"""

from .backend import Backend
from .core import LLM, get_llm
from .grounding import NA, GroundedAnswer, grounded_model, span_candidates
from .types import CallInfo, Choice, LLMError, Result, Span, Usage

__all__ = [
    "Backend", "LLM", "get_llm", "NA", "GroundedAnswer", "grounded_model", "span_candidates",
    "CallInfo", "Choice", "LLMError", "Result", "Span", "Usage",
]
