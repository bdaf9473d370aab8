"""Renderers: read a run record (run.json + samples.jsonl) and nothing else."""
