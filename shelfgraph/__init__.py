"""shelfgraph: grow a product knowledge graph from a retail catalogue."""
