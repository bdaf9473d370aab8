"""Retrieval: documents into chunks (corpus), chunks into vectors (embed), vectors into a
FAISS index kept in the artifact cache (index), and queries into ranked passages with their
quality metrics (retrieve). Used by the retrieval arms; nothing else in the core needs it."""
