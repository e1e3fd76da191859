"""Adapters that let other frameworks use the graph (LangChain: `integrations.langchain`)."""
