"""Context for agents: similar labelled examples, evidence sentences, taxonomy candidates.

`retrieval.embeddings` (packaged MiniLM, offline; `embed`, `cosine_top_k`, `mmr`) and
`shelfgraph.retrieval.index.CatalogIndex` (the Chroma store beside the graph). Nothing heavy is
imported here: torch and chromadb load on first use.
"""
