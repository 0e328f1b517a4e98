"""Knowledge bases: documents split into passages, BM25 search, storage on disk."""
