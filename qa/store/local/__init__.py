"""The local store: an index folder of versions (FAISS vectors, SQLite tables, BM25), published
atomically; what `qa index --index DIR` writes and readers open.
"""
