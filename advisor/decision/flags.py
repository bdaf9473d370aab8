"""Arms whose result is a lower bound, not a verdict: under-trained or collapsed.

- **under-trained** (arms with a training curve, i.e. LoRA): the validation loss was still
  falling at the last evaluation, meaning the last evaluation's loss is below the minimum of
  all earlier ones by more than `FALLING_REL` (1%), and training did not stop early. More
  steps would likely have helped.
- **collapsed** (classification arms): one label makes up at least `COLLAPSE_SHARE` (90%) of
  the arm's predictions while that label's share of the reference answers is at least
  `COLLAPSE_GAP` (25 points) lower. The arm answers one label for nearly everything
  ("no parseable answer" counts as a label).

The decision never ranks a flagged arm as the loser in silence: the rationale says its
result is a lower bound and says what to do: `advisor tune`, or for an arm that was tuned
already, a larger tuning budget (`advice`).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Literal, Sequence

from pydantic import BaseModel, Field

if TYPE_CHECKING:  # the record imports the recommendation's types, which import this module
    from advisor.evaluation.record import ArmResult, SampleRow

__all__ = ["ArmFlag", "arm_flags", "under_trained", "collapsed", "FALLING_REL", "COLLAPSE_SHARE", "COLLAPSE_GAP", "advice"]

FALLING_REL = 0.01
COLLAPSE_SHARE = 0.90
COLLAPSE_GAP = 0.25
NO_ANSWER = "(no answer)"  # an unparseable answer counts as one more label: answering nothing is a collapse too


class ArmFlag(BaseModel):
    """One warning about one arm, with the numbers behind it."""

    arm: str
    kind: Literal["under-trained", "collapsed"]
    detail: str = Field(description="the evidence, with numbers")
    values: dict[str, float | str] = Field(default_factory=dict)
    tuned: bool = Field(False, description="the arm ran at a configuration chosen by `advisor tune`")


def under_trained(arm: ArmResult) -> ArmFlag | None:
    """The validation loss still falling at the last evaluation (see module docstring)."""
    training = arm.prepare.training
    curve = [tuple(p) for p in training.curves.validation] if training is not None else []
    if len(curve) < 2 or training.stopped_early:
        return None
    (last_step, last), earlier = curve[-1], [v for _, v in curve[:-1]]
    floor = min(earlier)
    if floor <= 0 or last >= floor * (1 - FALLING_REL):
        return None
    drop = 1 - last / floor
    steps = training.steps or last_step
    return ArmFlag(arm=arm.name, kind="under-trained",
                   detail=(f"validation loss still falling at the last evaluation: {last:.4f} at step {last_step:g} "
                           f"against a best of {floor:.4f} before it ({drop:.1%} lower; {steps} steps, "
                           "not stopped early)"),
                   values={"last_val_loss": last, "previous_min": floor, "drop": round(drop, 4),
                           "step": last_step})


def collapsed(arm: ArmResult, rows: Sequence[SampleRow]) -> ArmFlag | None:
    """Predictions piled onto one label while the reference answers are spread out."""
    if len(rows) < 10:  # too few items to call a distribution
        return None
    preds = Counter(NO_ANSWER if r.prediction is None else r.prediction for r in rows)
    label, count = preds.most_common(1)[0]
    share = count / len(rows)
    ref = sum(r.target == label for r in rows) / len(rows)
    if share < COLLAPSE_SHARE or share - ref < COLLAPSE_GAP:
        return None
    detail = (f"no parseable answer for {count} of {len(rows)} items ({share:.0%})" if label == NO_ANSWER else
              f"predictions collapsed onto one label: {label!r} for {count} of {len(rows)} items ({share:.0%}) "
              f"while the reference has {ref:.0%} {label!r}")
    return ArmFlag(arm=arm.name, kind="collapsed", detail=detail,
                   values={"label": str(label), "share": round(share, 4), "reference_share": round(ref, 4)})


def arm_flags(arms: Sequence[ArmResult], by_arm: dict[str, list[SampleRow]], classification: bool) -> list[ArmFlag]:
    """Every flag on the given (finished) arms."""
    out: list[ArmFlag] = []
    for a in arms:
        if (flag := under_trained(a)) is not None:
            out.append(flag)
        if classification and (flag := collapsed(a, by_arm.get(a.name, []))) is not None:
            out.append(flag)
    tuned = {a.name for a in arms if a.tuning is not None}
    return [f.model_copy(update={"tuned": True}) if f.arm in tuned else f for f in out]


def advice(flag: ArmFlag) -> str:
    """What to do about a flagged arm: tune it, or (already tuned) tune it on a larger budget."""
    if flag.tuned:
        return "raise the tuning budget (`--trials` or `--seconds`) or widen its `search:` space"
    return "run `advisor tune`"
