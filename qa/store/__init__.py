"""Stage 3: the store — where an index lives (a folder: FAISS + SQLite + BM25 + versions, or a Qdrant
collection) behind one interface; hands candidates to retrieval.
"""
