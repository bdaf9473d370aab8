"""Arms that combine a fine-tuned adapter with retrieval: knn-lora and rag-lora (RAFT style).

Each composes the existing arms rather than copying them: the LoRA arm trains (same
trainer, cache, risk checks) and a retrieval arm (knn-shot or rag) answers with the adapter.
"""
