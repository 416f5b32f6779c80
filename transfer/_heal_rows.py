"""Training a few embedding rows of a frozen causal LM cheaply: row optimizer and a memory-light softmax.

Healing trains only embedding rows; every other weight stays bit-identical. Two things make that cheap on a CPU:

- `RowAdam` keeps Adam moments only for the rows a step touches (lazy, like ``torch.optim.SparseAdam``), and
  updates only those rows in place. A dense optimizer would move every trainable row every step: Adam rescales the
  tiny softmax gradient of a token that never occurs to a full-size step, which pushes rare rows away from their
  initialisation (the damage a naive dense probe measured). Rows that are not in a step's batch keep their values.
- `head_log_partition` computes ``logsumexp(h @ Wᵀ)`` over a 151k-row head block by block and recomputes the blocks
  in the backward pass, so the ``(N, V)`` logits never sit in memory, and gradients reach only the active rows
  (and ``h`` when the transformer is on the gradient path).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

_BLOCK_ELEMENTS = 1 << 23  # logits per block: 8M floats = 32 MB


class RowAdam:
    """Adam on selected rows of one matrix, with state only for rows ever updated.

    A matrix stored in a lower precision than float32 (a bf16 model) gets float32 *master* values for its touched
    rows: Adam updates the masters and writes their rounding into the matrix, so steps smaller than a bf16 rounding
    step still add up. A float32 matrix is its own master.

    Args:
        matrix: the ``(V, D)`` weight tensor, updated in place (its ``.data``).
        trainable: ``(V,)`` bool mask of rows that may change.
        lr: learning rate.
        betas: Adam's moment decays.
        eps: Adam's denominator guard.
    """

    def __init__(self, matrix: torch.Tensor, trainable: torch.Tensor, *, lr: float,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        import torch

        self.matrix = matrix
        self.trainable = trainable.to(matrix.device)
        self.lr, self.betas, self.eps = lr, betas, eps
        self.slot = torch.full((matrix.shape[0],), -1, dtype=torch.long, device=matrix.device)
        width = matrix.shape[1]
        self.rows = torch.zeros(0, dtype=torch.long, device=matrix.device)
        self.m = torch.zeros(0, width, dtype=torch.float32, device=matrix.device)
        self.v = torch.zeros(0, width, dtype=torch.float32, device=matrix.device)
        self.count = torch.zeros(0, dtype=torch.float32, device=matrix.device)
        self.master: torch.Tensor | None = None
        if matrix.dtype != torch.float32:
            self.master = torch.zeros(0, width, dtype=torch.float32, device=matrix.device)

    def values(self, rows: torch.Tensor) -> torch.Tensor:
        """The current float32 values of ``rows`` (their masters where the matrix is stored in lower precision)."""
        out = self.matrix[rows].detach().float()
        if self.master is not None:
            slots = self.slot[rows]
            known = slots >= 0
            out[known] = self.master[slots[known]]
        return out

    def active(self, ids: torch.Tensor) -> torch.Tensor:
        """The sorted trainable rows among ``ids``."""
        import torch

        unique = torch.unique(ids)
        return unique[self.trainable[unique]]

    def step(self, rows: torch.Tensor, grad: torch.Tensor) -> None:
        """One Adam update of ``rows`` (sorted, trainable) with gradient ``grad`` of shape ``(len(rows), D)``."""
        import torch

        fresh = rows[self.slot[rows] < 0]
        if len(fresh):
            start = len(self.rows)
            self.slot[fresh] = torch.arange(start, start + len(fresh), device=rows.device)
            self.rows = torch.cat([self.rows, fresh])
            self.m = torch.cat([self.m, self.m.new_zeros(len(fresh), self.m.shape[1])])
            self.v = torch.cat([self.v, self.v.new_zeros(len(fresh), self.v.shape[1])])
            self.count = torch.cat([self.count, self.count.new_zeros(len(fresh))])
            if self.master is not None:
                self.master = torch.cat([self.master, self.matrix[fresh].detach().float()])
        slots = self.slot[rows]
        beta1, beta2 = self.betas
        g = grad.float()
        self.count[slots] += 1
        self.m[slots] = beta1 * self.m[slots] + (1 - beta1) * g
        self.v[slots] = beta2 * self.v[slots] + (1 - beta2) * g * g
        count = self.count[slots][:, None]
        m_hat = self.m[slots] / (1 - beta1 ** count)
        v_hat = self.v[slots] / (1 - beta2 ** count)
        with torch.no_grad():
            current = self.matrix[rows].float() if self.master is None else self.master[slots]
            updated = current - self.lr * m_hat / (v_hat.sqrt() + self.eps)
            if self.master is not None:
                self.master[slots] = updated
            self.matrix[rows] = updated.to(self.matrix.dtype)

    def state(self) -> dict[str, Any]:
        """Touched rows, their current (master) values and moments (what a checkpoint needs)."""
        values = self.matrix[self.rows].detach() if self.master is None else self.master
        return {"rows": self.rows.cpu().clone(), "values": values.cpu().clone(),
                "m": self.m.cpu().clone(), "v": self.v.cpu().clone(), "count": self.count.cpu().clone()}

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore `state`: write the saved row values back and take over the moments."""
        import torch

        device = self.matrix.device
        self.rows = state["rows"].to(device)
        self.slot[:] = -1
        self.slot[self.rows] = torch.arange(len(self.rows), device=device)
        self.m, self.v, self.count = state["m"].to(device), state["v"].to(device), state["count"].to(device)
        values = state["values"].to(device)
        if self.master is not None:
            self.master = values.float().clone()
        with torch.no_grad():
            self.matrix[self.rows] = values.to(self.matrix.dtype)


def head_log_partition(hidden: torch.Tensor, matrix: torch.Tensor, active: torch.Tensor,
                       active_rows: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``logsumexp`` of the logits ``hidden @ matrixᵀ (+ bias)`` where the ``active`` rows are ``active_rows``.

    Args:
        hidden: ``(N, D)`` final hidden states (may require grad).
        matrix: ``(V, D)`` head weights, treated as constant.
        active: ``(A,)`` row ids whose weights are the differentiable ``active_rows`` instead.
        active_rows: ``(A, D)`` (requires grad).
        bias: optional ``(V,)`` constant head bias.

    Returns:
        ``(N,)`` log partition functions.
    """
    return _LogPartition.apply(hidden, active_rows, matrix, active, bias)


def _block_logits(h: torch.Tensor, matrix: torch.Tensor, active: torch.Tensor, rows: torch.Tensor,
                  bias: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    import torch

    frozen = h @ matrix.T
    moving = h @ rows.T
    if bias is not None:
        frozen = frozen + bias
        moving = moving + bias[active]
    frozen[:, active] = -torch.inf  # these columns are the active rows' (in ``moving``)
    return frozen, moving


def _blocks(n: int, vocabulary: int) -> range:
    return range(0, n, max(1, _BLOCK_ELEMENTS // max(vocabulary, 1)))


def _make_function() -> Any:
    import torch

    class LogPartition(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, h: torch.Tensor, rows: torch.Tensor, matrix: torch.Tensor, active: torch.Tensor,
                    bias: torch.Tensor | None) -> torch.Tensor:
            out = h.new_empty(h.shape[0], dtype=torch.float32)
            size = _blocks(h.shape[0], matrix.shape[0]).step
            for start in range(0, h.shape[0], size):
                frozen, moving = _block_logits(h[start:start + size], matrix, active, rows, bias)
                out[start:start + size] = torch.logsumexp(torch.cat([frozen, moving], 1).float(), 1)
            ctx.save_for_backward(h, rows, matrix, active, out)
            ctx.bias = bias
            return out

        @staticmethod
        def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:
            h, rows, matrix, active, lse = ctx.saved_tensors
            grad_h = torch.zeros_like(h) if ctx.needs_input_grad[0] else None
            grad_rows = torch.zeros_like(rows)
            size = _blocks(h.shape[0], matrix.shape[0]).step
            for start in range(0, h.shape[0], size):
                block = slice(start, start + size)
                frozen, moving = _block_logits(h[block], matrix, active, rows, ctx.bias)
                scale = grad[block, None]
                p_frozen = torch.exp(frozen - lse[block, None]) * scale
                p_moving = torch.exp(moving - lse[block, None]) * scale
                if grad_h is not None:
                    grad_h[block] = (p_frozen @ matrix + p_moving @ rows).to(h.dtype)
                grad_rows += (p_moving.T @ h[block]).to(rows.dtype)
            return grad_h, grad_rows, None, None, None

    return LogPartition


class _Lazy:
    """Builds the autograd function on first use, so importing this module does not import torch."""

    function: Any = None

    @classmethod
    def apply(cls, *args: Any) -> Any:
        if cls.function is None:
            cls.function = _make_function()
        return cls.function.apply(*args)


_LogPartition = _Lazy
