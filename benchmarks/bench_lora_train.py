"""LoRA training throughput: the arm's trainer vs a plain transformers Trainer + peft.

Same model (SmolLM2-135M-Instruct, fp32, CPU), same SMS examples formatted the same way,
same LoRA settings, batch size, learning-rate schedule, clipping and number of optimizer
steps, same thread count. Both first run a short untimed warm-up. Timing is
`time.perf_counter` around the optimizer steps (the arm's `train_s`; a callback from
`on_step_begin` to `on_step_end` for the Trainer, plus the Trainer's own `train_runtime`).
Tokens are the non-padding tokens each side actually put through forward and backward.

    python benchmarks/bench_lora_train.py [--steps 12] [--batch-size 8] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def examples(n: int):
    from transformers import AutoTokenizer

    from advisor.spec.data import load_splits
    from advisor.artifacts.models import resolve_model
    from advisor.spec import load_task
    from strategies.lora.data import encode
    from strategies.prompting.arm import PromptingConfig, PromptingStrategy

    task = load_task(ROOT / "benchmarks" / "sms_spam" / "task.yaml")
    prompt = PromptingStrategy(PromptingConfig(template="SMS: {input}"), task.spec)
    model = resolve_model(task.spec.model.name, "float32")
    tok = AutoTokenizer.from_pretrained(model.path)
    train = load_splits(task.spec).train[:n]
    return model.path, tok, encode(train, lambda s: prompt.parts(s).messages(), tok, 512)


def run_arm(path, tok, data, steps: int, batch: int, threads: int) -> dict:
    from strategies.lora.config import LoraArmConfig
    from strategies.lora.train import train_adapter

    cfg = LoraArmConfig(max_steps=steps, batch_size=batch, patience=None)
    with tempfile.TemporaryDirectory() as out:
        r = train_adapter(path, data, [], cfg, seed=0, device="cpu", dtype="float32", threads=threads,
                          out_dir=Path(out), pad_id=tok.pad_token_id)
    return {"tokens": r.tokens, "seconds": r.train_s, "loss": r.train_curve[-1][1]}


def run_trainer(path, tok, data, steps: int, batch: int, threads: int) -> dict:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, Trainer, TrainerCallback, TrainingArguments

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    model.config.use_cache = False
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05, bias="none", task_type="CAUSAL_LM",
                                             target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]))
    rows = [{"input_ids": list(e.input_ids), "answer_len": e.answer_len} for e in data]
    seen = {"tokens": 0}

    def collate(batch_rows):  # right padding, labels only on the answer tokens
        width = max(len(r["input_ids"]) for r in batch_rows)
        ids, mask, labels = [], [], []
        for r in batch_rows:
            n, pad = len(r["input_ids"]), width - len(r["input_ids"])
            ids.append(r["input_ids"] + [tok.pad_token_id] * pad)
            mask.append([1] * n + [0] * pad)
            labels.append([-100] * (n - r["answer_len"]) + r["input_ids"][n - r["answer_len"]:] + [-100] * pad)
        seen["tokens"] += sum(map(sum, mask))
        return {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask), "labels": torch.tensor(labels)}

    class StepClock(TrainerCallback):
        seconds, t0 = 0.0, 0.0

        def on_step_begin(self, args, state, control, **kw):
            self.t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            StepClock.seconds += time.perf_counter() - self.t0

    import dataclasses

    # length-grouped batches, as the arm's trainer uses (the option moved in transformers 5)
    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    grouping = ({"train_sampling_strategy": "group_by_length"} if "train_sampling_strategy" in names
                else {"group_by_length": True})
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(output_dir=out, per_device_train_batch_size=batch, max_steps=steps, learning_rate=5e-4,
                                 warmup_steps=round(0.1 * steps), lr_scheduler_type="cosine", max_grad_norm=1.0,
                                 logging_steps=1, save_strategy="no", report_to="none", use_cpu=True, seed=0,
                                 remove_unused_columns=False, disable_tqdm=True, **grouping)
        trainer = Trainer(model=model, args=args, train_dataset=rows, data_collator=collate, callbacks=[StepClock()])
        StepClock.seconds = 0.0
        metrics = trainer.train().metrics
    loss = [h["loss"] for h in trainer.state.log_history if "loss" in h][-1]
    return {"tokens": seen["tokens"], "seconds": StepClock.seconds, "runtime": metrics["train_runtime"], "loss": loss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    a = parser.parse_args()
    path, tok, data = examples(a.steps * a.batch_size)
    print(f"{len(data)} SMS examples, mean {sum(map(len, data)) / len(data):.0f} tokens; {a.steps} steps of "
          f"{a.batch_size}; {a.threads} threads; warming up both", flush=True)
    run_arm(path, tok, data[: 2 * a.batch_size], 2, a.batch_size, a.threads)
    run_trainer(path, tok, data[: 2 * a.batch_size], 2, a.batch_size, a.threads)
    arm = run_arm(path, tok, data, a.steps, a.batch_size, a.threads)
    base = run_trainer(path, tok, data, a.steps, a.batch_size, a.threads)
    arm_tps, base_tps = arm["tokens"] / arm["seconds"], base["tokens"] / base["seconds"]
    print(f"arm trainer       : {arm['tokens']} tokens in {arm['seconds']:.1f} s = {arm_tps:.0f} tok/s "
          f"(last loss {arm['loss']:.3f})")
    print(f"Trainer + peft    : {base['tokens']} tokens in {base['seconds']:.1f} s of steps = {base_tps:.0f} tok/s "
          f"({base['tokens'] / base['runtime']:.0f} tok/s over train_runtime {base['runtime']:.1f} s; "
          f"last loss {base['loss']:.3f})")
    print(f"ratio arm / Trainer: {arm_tps / base_tps:.2f}x")


if __name__ == "__main__":
    main()
