"""Prompting arm: zero-shot and k-shot with instructions and a template."""

from strategies.prompting.arm import PromptingConfig, PromptingStrategy

__all__ = ["PromptingConfig", "PromptingStrategy"]
