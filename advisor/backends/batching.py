"""Length-bucketed batches: rows of similar length share a batch, so little is padding.

Sorting requests by length and cutting the list every `batch_size` rows leaves long tails:
the last rows of a batch can be several times longer than its first, and every shorter row
is padded to the longest. `length_buckets` walks the sorted lengths and closes a batch when
adding the next (longer) row would

- exceed `max_rows` rows,
- exceed `token_budget` padded tokens (rows x longest row), which adapts the batch size to
  the input length: long documents go in smaller batches, short prompts in full ones, or
- make the padded share of the batch exceed `max_waste` (padding / padded tokens).

A row longer than the token budget still gets a batch of its own.
"""

from __future__ import annotations

from typing import Any, Callable, Hashable

__all__ = ["length_buckets", "grouped_buckets", "padding_waste", "TOKEN_BUDGET", "MAX_WASTE"]

TOKEN_BUDGET = 8192  # padded tokens per batch (rows x longest row)
MAX_WASTE = 0.25  # largest share of a batch's padded tokens that may be padding


def padding_waste(lengths: list[int]) -> float:
    """Share of a batch's padded tokens that are padding (0 when every row is as long)."""
    if not lengths:
        return 0.0
    top = max(lengths)
    return 1.0 - sum(lengths) / (top * len(lengths)) if top else 0.0


def length_buckets(lengths: list[int], max_rows: int, token_budget: int = TOKEN_BUDGET,
                   max_waste: float = MAX_WASTE) -> list[list[int]]:
    """Indices into `lengths`, shortest first, cut into batches as described above."""
    if max_rows < 1:
        raise ValueError(f"max_rows must be at least 1, got {max_rows}")
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    total = 0  # sum of the current batch's lengths
    for i in order:
        length = max(1, lengths[i])
        if current:
            rows = len(current) + 1
            padded = rows * length  # sorted: the new row is the longest
            if rows > max_rows or padded > token_budget or 1.0 - (total + length) / padded > max_waste:
                batches.append(current)
                current, total = [], 0
        current.append(i)
        total += length
    if current:
        batches.append(current)
    return batches


def grouped_buckets(items: list[Any], key: Callable[[Any], Hashable], lengths: list[int], max_rows: int,
                    token_budget: int = TOKEN_BUDGET, max_waste: float = MAX_WASTE) -> list[list[int]]:
    """Indices of `items` grouped by `key` (requests of one group can share a batch), each
    group cut into length buckets."""
    by_key: dict[Hashable, list[int]] = {}
    for i, item in enumerate(items):
        by_key.setdefault(key(item), []).append(i)
    batches: list[list[int]] = []
    for idx in by_key.values():
        for bucket in length_buckets([lengths[i] for i in idx], max_rows, token_budget, max_waste):
            batches.append([idx[b] for b in bucket])
    return batches
