"""Adaptation arms. Each registers in advisor.registry by a lazy `module:attr` entry."""
