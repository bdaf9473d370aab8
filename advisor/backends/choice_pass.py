"""Choice scoring in one pass over each prompt (the transformers backend's `score_choices`).

A label's score is the summed log-probability of its tokens after the prompt. Building one
row per label (prompt + label) would run a 600-token document five times for five labels;
here each prompt's tokens are computed once per request:

1. **Prompt pass.** The batch's prompts run once, laid out as shared prefix (its key/value
   cache computed once and copied to every row) + left padding + the prompt's own tokens, so
   every row ends at the same column. Only the last position's logits are projected onto the
   vocabulary: that distribution scores every label's first token, which is the whole score
   of a single-token label.
2. **Label pass**, only for labels of more than one token: the prompt pass's key/value cache
   is expanded across those labels (one row per request and label, at most as many rows per
   pass as the batch has prompts, so memory stays bounded) and the label's tokens but the last
   are run on top of it, right-padded; position t predicts token t + 1.

The attention mask hides the padding and position ids follow the mask, so the numbers equal
the unbatched, uncached computation (checked in tests to 1e-4 nats).
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["score_rows"]


def _forward(model: Any, cache_kw: str, can_keep: bool, input_ids: Any, mask: Any, positions: Any, cache: Any,
             keep_last: bool) -> tuple[Any, Any]:
    kwargs: dict[str, Any] = {"input_ids": input_ids, "attention_mask": mask, "position_ids": positions,
                              "use_cache": True}
    if cache is not None:
        kwargs[cache_kw] = cache
    if keep_last and can_keep:
        kwargs["logits_to_keep"] = 1
    out = model(**kwargs)
    logits = out.logits[:, -1:] if keep_last else out.logits
    new_cache = out.cache if hasattr(out, "cache") else out.past_key_values
    return logits, new_cache


def score_rows(model: Any, *, own: list[list[int]], prefix_len: int, cache: Any, labels: list[list[list[int]]],
               pad: int, device: str, cache_kw: str, can_keep: bool) -> list[list[float]]:
    """Log-likelihood of each row's labels after its prompt.

    own: each row's prompt tokens after the shared prefix (at least one each); prefix_len and
    cache: the shared prefix's length and its key/value cache already repeated across the rows
    (None when there is no prefix); labels[row]: token ids of each label of that row.
    """
    import torch

    rows = len(own)
    width = max(len(o) for o in own)
    mask = torch.tensor([[1] * prefix_len + [0] * (width - len(o)) + [1] * len(o) for o in own], device=device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    input_ids = torch.tensor([[pad] * (width - len(o)) + o for o in own], device=device)
    logits, cache = _forward(model, cache_kw, can_keep, input_ids, mask, positions[:, prefix_len:], cache,
                             keep_last=True)
    first = torch.log_softmax(logits[:, -1].float(), dim=-1)  # (rows, vocab)
    scores = [[float(first[r, ids[0]]) for ids in labels[r]] for r in range(rows)]

    longer = [(r, c, ids) for r in range(rows) for c, ids in enumerate(labels[r]) if len(ids) > 1]
    # At most `rows` label rows per pass: the prompt's cache is copied once per label row, so
    # memory stays at twice the prompt pass's cache however many labels there are.
    for start in range(0, len(longer), rows):
        chunk = longer[start:start + rows]
        select = torch.tensor([r for r, _, _ in chunk], device=device)
        steps = max(len(ids) - 1 for _, _, ids in chunk)
        cont = torch.tensor([ids[:-1] + [pad] * (steps - len(ids) + 1) for _, _, ids in chunk], device=device)
        cont_mask = torch.tensor([[1] * (len(ids) - 1) + [0] * (steps - len(ids) + 1) for _, _, ids in chunk],
                                 device=device)
        cont_positions = positions[select, -1:] + 1 + torch.arange(steps, device=device).unsqueeze(0)
        logits, _ = _forward(model, cache_kw, can_keep, cont, torch.cat([mask[select], cont_mask], dim=-1),
                             cont_positions, _select_rows(cache, select), keep_last=False)
        logprobs = torch.log_softmax(logits.float(), dim=-1)  # (label rows, steps, vocab)
        for k, (r, c, ids) in enumerate(chunk):
            targets = torch.tensor(ids[1:], device=device).unsqueeze(-1)
            scores[r][c] += float(logprobs[k, :len(ids) - 1].gather(-1, targets).sum())
    return scores


def _select_rows(cache: Any, select: Any) -> Any:
    """A cache holding rows `select` of `cache` (repeats allowed); `cache` itself is unchanged."""
    if hasattr(cache, "layers"):  # transformers >= 4.56: copy the layer objects, not their tensors
        out = copy.copy(cache)
        out.layers = [copy.copy(layer) for layer in cache.layers]
    else:
        out = copy.deepcopy(cache)
    out.batch_select_indices(select)
    return out
