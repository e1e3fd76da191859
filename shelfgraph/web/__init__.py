"""`shelfgraph serve`: server-rendered pages over a graph (see app.py); no script, no build step."""
