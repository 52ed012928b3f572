"""The Qdrant store: the same index in a Qdrant collection (server or local mode), switched by an
alias; what `qa index --store qdrant://…` writes.
"""
