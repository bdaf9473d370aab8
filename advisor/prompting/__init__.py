"""Prompting helpers every arm shares: chat prompts from instructions, demonstrations and an
input, fitted to the model's window (prompts), and free model output turned into an answer
(answers)."""
