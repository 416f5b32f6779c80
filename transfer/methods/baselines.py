"""The baseline planners: ``mean`` (the mean source row), ``random`` (N(mean_d, std_d) per dimension, seeded; never
unscaled N(0, 1)), ``zero``, and ``subword-mean`` (the mean of the decomposition's rows, FVT / ReTok style)."""

from __future__ import annotations

from typing import Literal

import numpy as np

from lexkit.transfer.methods.plan import Plan, PlanInputs, Planner, decompositions, new_tokens

__all__ = ["fill_planner", "plan_subword_mean"]


def fill_planner(fill: Literal["mean", "random", "zero"]) -> Planner:
    """The planner that gives every new row the per-matrix ``fill`` (`apply_plan` computes it)."""

    def plan_fill(plan: Plan, inputs: PlanInputs) -> None:
        for token_id in new_tokens(inputs.target, plan, text_only=False):
            plan.fills[token_id] = fill
            plan.estimates[token_id] = fill

    return plan_fill


def plan_subword_mean(plan: Plan, inputs: PlanInputs) -> None:
    """Each new text token: the mean of its pieces' rows under the source tokenizer (FVT / ReTok style)."""
    new = new_tokens(inputs.target, plan, text_only=True)
    for token_id, pieces in decompositions(inputs.source, inputs.target, new, inputs.source_rows).items():
        if not pieces:
            plan.fallbacks[token_id] = "no decomposition under the source tokenizer"
            continue
        plan.combos[token_id] = (np.asarray(pieces, dtype=np.int64),
                                 np.full(len(pieces), 1.0 / len(pieces), dtype=np.float32))
        plan.estimates[token_id] = "subword"
