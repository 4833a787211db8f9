"""Identity's commands and queries, each run in a unit of work (see handlers.py)."""
