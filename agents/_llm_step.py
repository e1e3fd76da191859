"""What every LLM agent step shares: a prompt template chosen by `name@version`, the model
built on first use from the step context, and a signature naming both.

The signature's prompt is the template's ref (`name@version#hash`), never a rendered prompt,
so it names what the output depends on without depending on the input.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shelfgraph.context import StepContext
from shelfgraph.prompting import Prompt, load_prompt
from shelfgraph.steps import Signature

if TYPE_CHECKING:
    from shelfgraph.llm import LLM


class LLMStepMixin:
    """Mixed into a Step: `self.llm` loads the model lazily; `signature()` names model and prompt."""

    method: str

    def _setup_llm(self, context: StepContext | None, prompt: str) -> None:
        self.context = context or StepContext()
        self.prompt: Prompt = load_prompt(prompt)  # fails now, naming the known versions
        self._llm: "LLM | None" = None

    @property
    def llm(self) -> "LLM":
        if self._llm is None:
            from shelfgraph.llm import get_llm

            self._llm = get_llm(self.context.llm, self.context.home)
        return self._llm

    def signature(self) -> Signature:
        return Signature(method=self.method, model=self.llm.model_name, prompt=self.prompt.ref)

    def _index(self):
        """The Chroma index of the context; without one, a persistent one under home (its
        records are content-hashed, so a later run embeds only what changed). A folder takes
        one process at a time: processes running side by side need a Chroma server
        (`chroma_url`); two writing one folder made queries fail here."""
        from retrieval.index import CatalogIndex

        if self.context.index_dir is None and self.context.chroma_url is None:
            return CatalogIndex.open(path=self.context.home / "agent-index")
        return CatalogIndex.from_context(self.context)
