"""Stage 3b: indexing — build an index version from the seeds (embedding only what changed), in the
foreground (`build_index`) or in a background thread for the chat; hands versions to retrieval.
"""
