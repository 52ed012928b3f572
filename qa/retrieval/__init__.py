"""Stage 4: retrieval — a question to ranked, cited passages: dense, sentence and BM25 signals fused;
hands hits to the reader and the answerers.
"""
