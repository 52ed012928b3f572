"""The Qdrant store: the same index in a Qdrant collection (server or local mode), switched by an
alias; what `qa index --store qdrant://…` writes.
"""

# The store URL schemes, here so that `qa.store.location` can tell a URL from a folder without importing the client.
SERVER_SCHEMES = {"qdrant://": False, "qdrants://": True}  # a Qdrant server: scheme → HTTPS
LOCAL_SCHEME = "qdrant+path:"  # qdrant-client's embedded local mode in a folder (one process at a time)
