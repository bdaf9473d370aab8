"""Retrieval arms: `rag` (answer from retrieved passages) and `knn-shot` (nearest training examples as demonstrations)."""
