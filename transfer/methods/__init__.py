"""Approximation methods, one embedding matrix at a time (the planners of `lexkit.transfer.transplant`).

Every method's planner fills a `Plan` (`plan`): for each target token a copied source row (an anchor), a weighted
combination of source rows, a per-matrix fill, or a fallback; `apply_plan` turns a plan into a matrix and its
report. `planners.PLANNERS` maps each `Method` to its planner:

- ``omp``: sparse coding over anchors in a donor space (`omp`, on `lexkit.transfer.omp`).
- ``heuristic``: TokenAdapt-style local and global estimates in an auxiliary space (`heuristic`).
- ``subword-mean``, ``mean``, ``random``, ``zero``: the baselines (`baselines`).
- ``hypernetwork``: predicted by `lexkit.transfer.hypernetwork`, through `transplant` only.

`init_embeddings` (`matrix`) runs one matrix end to end. Not handled: other published initialisations
(hewitt, knn, prefix, landmark-pca, focus, wechsel).
"""

from lexkit.transfer.methods.config import Method, OmpDefaults, TransferConfig
from lexkit.transfer.methods.matrix import check_rows, init_embeddings
from lexkit.transfer.methods.plan import Plan, TokenProvenance, TransferReport, apply_plan, finish_report
from lexkit.transfer.methods.planners import PLANNERS, make_plan

__all__ = [
    "PLANNERS", "Method", "OmpDefaults", "Plan", "TokenProvenance", "TransferConfig", "TransferReport", "apply_plan",
    "check_rows", "finish_report", "init_embeddings", "make_plan",
]
