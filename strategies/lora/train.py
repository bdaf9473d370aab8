"""The LoRA training loop: AdamW with warm-up and decay, gradient accumulation and clipping,
validation every N steps, early stopping with patience that keeps the best adapter.

Written out rather than delegated to `transformers.Trainer` for one measured reason: the
loss needs the vocabulary projection only at answer positions. Examples are left-padded so
every answer ends at the last column and `logits_to_keep` projects only that window; a
Trainer computes logits (and their gradient) for every token. `benchmarks/bench_lora_train.py`
measures the difference.

Times are wall seconds from `time.perf_counter`: `train_s` covers optimizer steps only,
`eval_s` the validations, `wall_s` everything from loading the model to saving the adapter.
"""

from __future__ import annotations

import math
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from strategies.lora.config import LoraArmConfig, ResolvedTraining, resolve_defaults
from strategies.lora.data import IGNORE, Example, bucket_batches, collate
from strategies.lora.methods import peft_config

__all__ = ["TrainResult", "train_adapter", "attention_modules", "load_base", "lr_factor", "plan_steps"]


@dataclass
class TrainResult:
    train_curve: list[list[float]] = field(default_factory=list)  # [step, mean answer-token loss]
    val_curve: list[list[float]] = field(default_factory=list)  # [step, val loss]
    val_accuracy: list[list[float]] = field(default_factory=list)  # [step, accuracy] (classification)
    best_step: int = 0
    stopped_early: bool = False
    steps: int = 0
    planned_steps: int = 0
    epochs: float = 0.0
    trainable_params: int = 0
    total_params: int = 0
    tokens: int = 0  # non-padding tokens through forward+backward
    answer_tokens: int = 0
    train_s: float = 0.0
    eval_s: float = 0.0
    wall_s: float = 0.0
    peak_memory_mb: float = 0.0
    peak_memory_how: str = ""
    device: str = "cpu"
    dtype: str = "float32"
    threads: int | None = None
    resolved: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def attention_modules(model: Any) -> list[str]:
    """Leaf names of the linear layers inside attention blocks (q_proj, k_proj, ... or
    c_attn, query_key_value, ... depending on the architecture)."""
    import torch

    names = set()
    for path, module in model.named_modules():
        parent = path.rsplit(".", 1)[0].lower() if "." in path else ""
        linear = isinstance(module, torch.nn.Linear) or type(module).__name__ == "Conv1D"
        if linear and ("attn" in parent or "attention" in parent):
            names.add(path.rsplit(".", 1)[-1])
    return sorted(names)


def plan_steps(n_examples: int, config: LoraArmConfig) -> tuple[int, float]:
    """(optimizer steps, epochs they cover)."""
    per_epoch = max(1, math.ceil(math.ceil(n_examples / config.batch_size) / config.grad_accum))
    steps = config.max_steps or max(1, math.ceil((config.epochs or 1.0) * per_epoch))
    return steps, steps / per_epoch


def lr_factor(step: int, total: int, warmup: int, schedule: str) -> float:
    """Multiplier of the peak learning rate at optimizer step `step` (0-based)."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    progress = (step - warmup) / max(1, total - warmup)
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return max(0.0, 1.0 - progress)


def load_base(path: Path, dtype: str, device: str, qlora: bool) -> Any:
    """The base model ready for LoRA: frozen, no KV cache; 4-bit NF4 with `qlora`."""
    import torch
    from transformers import AutoModelForCausalLM

    torch_dtype = getattr(torch, dtype)
    if qlora:
        from peft import prepare_model_for_kbit_training
        from transformers import BitsAndBytesConfig

        quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                   bnb_4bit_compute_dtype=torch_dtype)
        model = AutoModelForCausalLM.from_pretrained(path, quantization_config=quant, dtype=torch_dtype,
                                                     device_map={"": 0})
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    else:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype).to(device)
    model.config.use_cache = False
    return model


def _answer_losses(model: Any, batch: dict[str, Any]) -> tuple[Any, Any]:
    """(summed loss per row, answer tokens per row) of one collated batch."""
    import torch

    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                position_ids=batch["position_ids"], logits_to_keep=batch["keep"], use_cache=False)
    logits = out.logits[:, -batch["keep"]:].float()
    labels = batch["labels"]
    losses = torch.nn.functional.cross_entropy(logits.transpose(1, 2), labels, ignore_index=IGNORE, reduction="none")
    return losses.sum(-1), (labels != IGNORE).sum(-1)


def evaluate(model: Any, examples: list[Example], batch_size: int, pad_id: int, device: str,
             choices: list[list[Example]] | None = None, gold: list[int] | None = None) -> tuple[float, float | None]:
    """(mean answer-token loss, accuracy or None). Accuracy ranks each label by the summed
    log-probability of its tokens (end-of-turn excluded), as choice scoring does."""
    import torch

    model.eval()
    total, count = 0.0, 0
    with torch.inference_mode():
        ordered = sorted(examples, key=len)
        for i in range(0, len(ordered), batch_size):
            loss, n = _answer_losses(model, collate(ordered[i:i + batch_size], pad_id, device))
            total += float(loss.sum())
            count += int(n.sum())
        accuracy = None
        if choices and gold:
            scores = []  # per label: summed log-prob of the label tokens per example
            for label_examples in choices:
                row = []
                for i in range(0, len(label_examples), batch_size):
                    part = label_examples[i:i + batch_size]
                    batch = collate(part, pad_id, device)
                    labels = batch["labels"].clone()
                    last = (labels != IGNORE).long().cumsum(-1).argmax(-1)  # the end-of-turn column
                    labels[torch.arange(len(part)), last] = IGNORE
                    loss, _ = _answer_losses(model, {**batch, "labels": labels})
                    row += (-loss).tolist()
                scores.append(row)
            picks = [max(range(len(scores)), key=lambda j: scores[j][k]) for k in range(len(gold))]
            accuracy = sum(p == g for p, g in zip(picks, gold)) / len(gold)
    model.train()
    return total / max(1, count), accuracy


def train_adapter(model_path: Path, train: list[Example], validation: list[Example], config: LoraArmConfig, *,
                  seed: int, device: str, dtype: str, threads: int | None, out_dir: Path, pad_id: int,
                  choices: list[list[Example]] | None = None, gold: list[int] | None = None,
                  status: Callable[[str], None] = lambda m: None,
                  progress: Callable[[int, int, str], None] = lambda done, total, detail: None,
                  init_text: str = "", full: bool = False,
                  report: Callable[[int, float], None] | None = None) -> TrainResult:
    """Train a PEFT adapter on `train`, validate on `validation`, save the best to `out_dir`.
    With `full`, every weight is trained instead and the whole model is saved.

    `progress(step, steps, detail)` reports the optimiser steps (loss, tokens/s, eta in
    `detail`); the caller's reporter draws it. `report(step, value)` receives every
    validation (accuracy when it is computed, else minus the loss: higher is better either
    way); a tuner raises from it to stop a hopeless trial.
    """
    import torch
    from peft import get_peft_model

    started = time.perf_counter()
    old_threads = torch.get_num_threads()
    if threads and device == "cpu":
        torch.set_num_threads(threads)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    result = TrainResult(device=device, dtype=dtype, threads=torch.get_num_threads() if device == "cpu" else None)
    try:
        torch.manual_seed(seed)
        model = load_base(model_path, dtype, device, config.qlora)
        total_before = sum(p.numel() for p in model.parameters())
        if full:
            model.requires_grad_(True)
            lr = config.learning_rate or (5e-5 if total_before < 1e9 else 1e-5)
            resolved = ResolvedTraining(rank=0, alpha=0.0, learning_rate=lr, target_modules="all weights", method="full")
            result.resolved = resolved.model_dump()
            result.trainable_params = result.total_params = total_before
        else:
            targets = attention_modules(model)
            if not targets and config.target_modules in ("auto", "attention"):
                result.notes.append("no attention projections recognised in this architecture: targeting all linear layers")
            resolved: ResolvedTraining = resolve_defaults(config, total_before, targets or [])
            if resolved.target_modules == []:
                resolved = resolved.model_copy(update={"target_modules": "all-linear"})
            # IA3 keeps its own targets (keys, values, FFN input from peft's table) unless the user named some:
            # LoRA's default (the attention projections) would make it scale q, k, v and o instead.
            targets = config.target_modules if config.method == "ia3" else resolved.target_modules
            model = get_peft_model(model, peft_config(
                config.method, rank=resolved.rank, alpha=resolved.alpha, dropout=config.dropout,
                target_modules=targets, virtual_tokens=config.virtual_tokens, init_text=init_text,
                tokenizer_path=str(model_path)))
            if config.method == "ia3":  # say what it really targets
                applied = model.peft_config["default"].target_modules
                resolved = resolved.model_copy(update={"target_modules": sorted(applied) if isinstance(applied, (set, list))
                                                       else applied})
            result.resolved = {**resolved.model_dump(), "method": config.method}
            result.trainable_params, result.total_params = model.get_nb_trainable_parameters()
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=resolved.learning_rate, weight_decay=config.weight_decay)
        steps, result.epochs = plan_steps(len(train), config)
        result.planned_steps = steps
        warmup = round(config.warmup_ratio * steps)
        eval_every = config.eval_every or max(1, steps // 8)
        lower_better = config.early_stop_metric == "val_loss"
        best_value, best_state, bad = math.inf if lower_better else -math.inf, None, 0

        def validate(step: int) -> bool:
            """Evaluate, track the best adapter; True when patience ran out."""
            nonlocal best_value, best_state, bad
            t0 = time.perf_counter()
            loss, acc = evaluate(model, validation, config.batch_size, pad_id, device, choices, gold)
            result.eval_s += time.perf_counter() - t0
            result.val_curve.append([step, round(loss, 5)])
            if acc is not None:
                result.val_accuracy.append([step, round(acc, 5)])
            value = loss if lower_better else (acc if acc is not None else -loss)
            if report is not None:
                report(step, acc if acc is not None else -loss)
            better = value < best_value - config.min_delta if lower_better else value > best_value + config.min_delta
            if better or best_state is None:
                best_value, result.best_step, bad = value, step, 0
                best_state = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
            else:
                bad += 1
            return config.patience is not None and bad >= config.patience

        model.train()
        progress(0, steps, "starting")  # the job's start, so the reporter's rate counts from here
        if validation:
            validate(0)
        stream = _micro_batches(train, config.batch_size, seed)
        step, window_loss, window_tokens = 0, 0.0, 0
        while step < steps:
            t0 = time.perf_counter()
            micro = [next(stream) for _ in range(config.grad_accum)]
            answer_tokens = sum(e.answer_len for b in micro for e in b)
            for b in micro:
                batch = collate(b, pad_id, device)
                loss, n = _answer_losses(model, batch)
                (loss.sum() / answer_tokens).backward()  # mean over the whole step's answer tokens
                window_loss += float(loss.sum().detach())
                window_tokens += int(n.sum())
                result.tokens += int(batch["attention_mask"].sum())
            result.answer_tokens += answer_tokens
            for group in optimizer.param_groups:
                group["lr"] = resolved.learning_rate * lr_factor(step, steps, warmup, config.schedule)
            if config.max_grad_norm:
                torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            result.train_s += time.perf_counter() - t0
            if step % config.log_every == 0 or step == steps:
                result.train_curve.append([step, round(window_loss / max(1, window_tokens), 5)])
                window_loss, window_tokens = 0.0, 0
            stop = False
            if validation and (step % eval_every == 0 or step == steps):
                stop = validate(step)
            if step % max(1, steps // 20) == 0 or step == steps or stop:
                progress(step, steps, _progress(step, steps, result, time.perf_counter() - started))
            if stop:
                result.stopped_early = step < steps
                break
        result.steps = step
        if best_state is not None:
            with torch.no_grad():
                for n, p in model.named_parameters():
                    if n in best_state:
                        p.copy_(best_state[n])
        else:
            result.best_step = step
        model.save_pretrained(out_dir)
        if config.merge_export:
            merged = model.merge_and_unload()
            merged.save_pretrained(out_dir / "merged")
        if device == "cuda":
            result.peak_memory_mb = torch.cuda.max_memory_allocated() / 2**20
            result.peak_memory_how = "torch.cuda.max_memory_allocated during training (MiB)"
        else:
            result.peak_memory_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            result.peak_memory_how = "process peak resident set size (ru_maxrss, MiB), includes the serving backend"
        del model, optimizer, best_state
    finally:
        torch.set_num_threads(old_threads)
    result.wall_s = time.perf_counter() - started
    return result


def _micro_batches(examples: list[Example], batch_size: int, seed: int):
    """Length-bucketed micro-batches forever, a fresh seeded order every epoch."""
    epoch = 0
    while True:
        yield from bucket_batches(examples, batch_size, seed + epoch)
        epoch += 1


def _progress(step: int, steps: int, r: TrainResult, elapsed: float) -> str:
    """The detail beside the step count (the reporter adds the rate and time left)."""
    loss = r.train_curve[-1][1] if r.train_curve else float("nan")
    val = f", val loss {r.val_curve[-1][1]:.3f}" if r.val_curve else ""
    return f"(loss {loss:.3f}{val}, {r.tokens / max(1e-9, r.train_s):.0f} tok/s)"
