"""The `{method: planner}` table that `make_plan` dispatches through."""

from __future__ import annotations

import pytest
import torch

from lexkit.errors import LexkitError
from lexkit.transfer.methods import PLANNERS, Method, TransferConfig, make_plan
from lexkit.transfer.methods.baselines import plan_subword_mean
from lexkit.transfer.methods.heuristic import plan_heuristic
from lexkit.transfer.methods.omp import plan_omp


def test_every_method_has_exactly_one_planner() -> None:
    assert set(PLANNERS) == set(Method)
    assert PLANNERS[Method.OMP] is plan_omp
    assert PLANNERS[Method.HEURISTIC] is plan_heuristic
    assert PLANNERS[Method.SUBWORD_MEAN] is plan_subword_mean


@pytest.mark.parametrize(("method", "message"), [
    (Method.OMP, "needs a donor embedding space"),
    (Method.HEURISTIC, "needs an auxiliary embedder"),
    (Method.HYPERNETWORK, "hypernetwork=PATH"),
])
def test_planners_refuse_missing_inputs(method: Method, message: str) -> None:
    """Each planner checks its own inputs: the dispatcher knows nothing about them."""
    with pytest.raises(LexkitError, match=message):
        make_plan(method, None, _Target(), _NoAnchors(), source_rows=0, config=TransferConfig(),  # type: ignore[arg-type]
                  device=torch.device("cpu"))


class _NoAnchors:
    pairs: dict[int, int] = {}


class _Target:
    class vocabulary:  # stands in for a Vocabulary with no tokens
        tokens: list[object] = []

    def __len__(self) -> int:
        return 0
