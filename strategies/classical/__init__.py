"""The classical baseline: TF-IDF features + logistic regression (no LLM at all)."""
