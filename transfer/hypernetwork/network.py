"""The ZeTT-style hypernetwork: a small transformer that maps a token's source decomposition to embeddings.

For a target token, the source tokenizer splits its bytes into at most ``max_pieces`` source tokens; their rows
of the frozen source embeddings (input rows, plus output rows for an untied model) are rescaled, projected,
run through a bidirectional post-LN transformer, pooled at the first position, and turned into an input
embedding (and, for an untied model, an output embedding) by separate heads (as ZeTT).

``residual=True`` (lexkit's CPU-budget variant) predicts a correction to the mean of the pieces' rows, with the
heads' last layers zero-initialised, so training starts from the subword-mean estimate instead of from noise;
``residual=False`` is ZeTT's layout with a frozen out-rescaler fitted on anchor tokens.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lexkit._version import __version__
from lexkit.atomic import atomic_directory
from lexkit.errors import FormatError, LexkitError

__all__ = [
    "CONFIG_FILE", "WEIGHTS_FILE", "FORMAT_VERSION", "HypernetConfig", "HypernetModule", "SourceInfo",
    "Hypernetwork", "piece_table", "batches", "fit_rescalers",
]

CONFIG_FILE = "hypernetwork.json"
WEIGHTS_FILE = "hypernetwork.safetensors"
FORMAT_VERSION = 1
_INIT_RANGE = 0.02  # per-dimension std of rescaled piece rows (ZeTT's initializer range)


@dataclass(frozen=True)
class HypernetConfig:
    """Shape of the hypernetwork.

    Args:
        hidden: width h; None uses the source model's embedding dimension (ZeTT: h = d).
        layers: transformer layers (ZeTT: 3).
        heads: attention heads; None uses h / 64 (at least 1).
        ffn_multiplier: feed-forward width as a multiple of h (ZeTT: 2).
        max_pieces: longest decomposition kept (ZeTT: 7); longer ones are truncated.
        residual: predict a correction to the mean of the pieces' rows (True) or the row itself (ZeTT, False).
    """

    hidden: int | None = None
    layers: int = 3
    heads: int | None = None
    ffn_multiplier: int = 2
    max_pieces: int = 7
    residual: bool = True

    def __post_init__(self) -> None:
        for name in ("hidden", "layers", "heads", "ffn_multiplier", "max_pieces"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise LexkitError(f"hypernetwork {name}={value} is invalid; pass a positive integer")

    def resolved(self, source_dim: int) -> HypernetConfig:
        """This configuration with ``hidden`` and ``heads`` filled in for a model of dimension ``source_dim``.

        Raises:
            LexkitError: ``hidden`` is not divisible by ``heads``.
        """
        hidden = self.hidden or source_dim
        heads = self.heads or max(1, hidden // 64)
        if hidden % heads:
            raise LexkitError(f"hypernetwork hidden={hidden} is not divisible by heads={heads}; pass heads that "
                              f"divide it (e.g. heads={max(1, hidden // 64)} with hidden a multiple of 64)")
        return HypernetConfig(hidden, self.layers, heads, self.ffn_multiplier, self.max_pieces, self.residual)


class _Projector(nn.Module):
    """ZeTT's projector block: LayerNorm(x + GELU(W2 GELU(W1 x)))."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.up = nn.Linear(width, 2 * width)
        self.down = nn.Linear(2 * width, width)
        self.norm = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x + nn.functional.gelu(self.down(nn.functional.gelu(self.up(x)))))


class HypernetModule(nn.Module):
    """The network itself (weights only; `Hypernetwork` adds the source bookkeeping).

    Args:
        config: a resolved `HypernetConfig`.
        dim: the source model's embedding dimension d.
        outputs: 1 for a tied source (one matrix), 2 for an untied one (input and output heads).
    """

    in_shift: torch.Tensor
    in_scale: torch.Tensor
    out_shift: torch.Tensor
    out_scale: torch.Tensor

    def __init__(self, config: HypernetConfig, dim: int, outputs: int) -> None:
        super().__init__()
        assert config.hidden is not None and config.heads is not None, "pass a resolved configuration"
        hidden = config.hidden
        self.config, self.dim, self.outputs = config, dim, outputs
        piece_dim = dim * outputs
        # Frozen affine maps fitted by `fit_rescalers`; buffers so they are saved but never trained.
        self.register_buffer("in_shift", torch.zeros(piece_dim))
        self.register_buffer("in_scale", torch.ones(piece_dim))
        self.register_buffer("out_shift", torch.zeros(outputs, dim))
        self.register_buffer("out_scale", torch.ones(outputs, dim))
        self.project = nn.Linear(piece_dim, hidden)
        self.project_block = _Projector(hidden)
        self.positions = nn.Embedding(config.max_pieces, hidden)
        layer = nn.TransformerEncoderLayer(hidden, config.heads, config.ffn_multiplier * hidden, dropout=0.0,
                                           activation="gelu", batch_first=True, norm_first=False)
        self.encoder = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        self.heads = nn.ModuleList(nn.Sequential(_Projector(hidden), nn.Linear(hidden, dim)) for _ in range(outputs))
        for head in self.heads if config.residual else ():
            assert isinstance(head, nn.Sequential), "heads are Sequential(projector, linear)"
            last = head[-1]
            assert isinstance(last, nn.Linear), "a head ends in its output projection"
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    def forward(self, pieces: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Embeddings for a batch of decompositions.

        Args:
            pieces: the pieces' source rows, ``(N, L, outputs * d)`` (input rows, then output rows if untied).
            mask: ``(N, L)``, True at real pieces; every row has at least one.

        Returns:
            ``(N, outputs, d)``: the predicted input (and output) rows.
        """
        x = (pieces - self.in_shift) * self.in_scale
        x = self.project_block(self.project(x))
        x = x + self.positions.weight[: x.shape[1]]
        x = self.encoder(x, src_key_padding_mask=~mask)
        pooled = x[:, 0]
        out = torch.stack([head(pooled) for head in self.heads], dim=1)
        if self.config.residual:
            weights = mask.unsqueeze(2).to(pieces.dtype)
            mean = (pieces * weights).sum(1) / weights.sum(1)
            return out + mean.view(-1, self.outputs, self.dim)
        return out * self.out_scale + self.out_shift


@dataclass(frozen=True)
class SourceInfo:
    """What the hypernetwork was trained on: the model, and a fingerprint of its embedding rows."""

    model: str
    rows: int
    dim: int
    tied: bool
    fingerprint: str

    @staticmethod
    def of(name: str, input_matrix: torch.Tensor, tied: bool, rows: int) -> SourceInfo:
        """Describe a source model by name, shape and a hash of its first rows (rounded, so dtype noise passes)."""
        head = input_matrix[: min(rows, 64)].detach().float().cpu().numpy()
        digest = hashlib.sha256(np.round(head, 3).tobytes()).hexdigest()[:16]
        return SourceInfo(name, rows, int(input_matrix.shape[1]), tied, digest)


class Hypernetwork:
    """A trained hypernetwork bound to one source model; predicts embedding rows for any token bytes.

    Args:
        module: the network.
        source: the source model it was trained for.
        config: its (resolved) shape.
        training: a summary of the training run (steps, tokens, seconds, device...), saved with it.
    """

    def __init__(self, module: HypernetModule, source: SourceInfo, training: dict[str, Any] | None = None) -> None:
        self.module = module
        self.source = source
        self.training = dict(training or {})

    @property
    def config(self) -> HypernetConfig:
        """The network's shape."""
        return self.module.config

    @property
    def outputs(self) -> int:
        """1 (tied source: one matrix) or 2 (untied: input and output rows)."""
        return self.module.outputs

    def check_source(self, input_matrix: torch.Tensor, rows: int, what: str = "model") -> None:
        """Refuse a model other than the one the network was trained for.

        Raises:
            LexkitError: the embedding shape or fingerprint differs.
        """
        seen = SourceInfo.of(self.source.model, input_matrix, self.source.tied, rows)
        if (seen.rows, seen.dim) != (self.source.rows, self.source.dim) or seen.fingerprint != self.source.fingerprint:
            raise LexkitError(
                f"the hypernetwork was trained for {self.source.model} ({self.source.rows} x {self.source.dim} "
                f"embeddings) but the {what} has {seen.rows} x {seen.dim} embeddings with different values; it "
                "predicts rows in its source model's space only; pass that model or train one for this model"
            )

    def predict(self, decompositions: list[list[int]], pieces_table: torch.Tensor, *,
                batch_size: int = 4096) -> torch.Tensor:
        """Predicted rows for target tokens given their decompositions (source ids, each list non-empty).

        Args:
            decompositions: source token ids per target token; truncated to ``max_pieces``.
            pieces_table: `piece_table` of the source matrices, on the device to run on.
            batch_size: tokens per forward pass (sorted by length so padding stays small).

        Returns:
            ``(N, outputs, d)`` float32 rows, in ``decompositions`` order, on ``pieces_table``'s device.
        """
        self.module.eval()
        out = torch.empty(len(decompositions), self.outputs, self.source.dim, device=pieces_table.device)
        with torch.no_grad():
            for order, ids, mask in batches(decompositions, self.config.max_pieces, batch_size,
                                            device=pieces_table.device):
                out[order] = self.module(pieces_table[ids], mask).float()
        return out

    def save(self, directory: str | PathLike[str]) -> Path:
        """Write ``hypernetwork.json`` (shape, source, training summary) and the weights, atomically."""
        from safetensors.torch import save_file

        directory = Path(directory)
        meta = {"format": "lexkit-hypernetwork", "version": FORMAT_VERSION, "lexkit_version": __version__,
                "config": asdict(self.config), "source": asdict(self.source), "outputs": self.outputs,
                "training": self.training}
        with atomic_directory(directory) as staging:
            state = {k: v.detach().float().cpu().contiguous() for k, v in self.module.state_dict().items()}
            save_file(state, str(staging / WEIGHTS_FILE))
            (staging / CONFIG_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        return directory

    @classmethod
    def load(cls, directory: str | PathLike[str], *, device: str | torch.device = "cpu") -> Hypernetwork:
        """Load a hypernetwork written by `save` (or by training).

        Raises:
            FormatError: the folder holds no hypernetwork or an unsupported version.
        """
        from safetensors.torch import load_file

        directory = Path(directory)
        meta_path, weights_path = directory / CONFIG_FILE, directory / WEIGHTS_FILE
        if not meta_path.is_file() or not weights_path.is_file():
            raise FormatError(
                f"{directory}: no {CONFIG_FILE} and {WEIGHTS_FILE} here, so this is not a hypernetwork folder; pass "
                "the -o folder of `lexkit hypernet train`"
            )
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise FormatError(f"{meta_path}: invalid JSON at line {exc.lineno}; re-save the hypernetwork") from None
        if meta.get("format") != "lexkit-hypernetwork" or meta.get("version") != FORMAT_VERSION:
            raise FormatError(f"{meta_path}: not a version-{FORMAT_VERSION} lexkit hypernetwork; retrain it with "
                              "this lexkit version")
        known = {f.name for f in fields(HypernetConfig)}
        config = HypernetConfig(**{k: v for k, v in meta["config"].items() if k in known})
        source = SourceInfo(**meta["source"])
        module = HypernetModule(config, source.dim, int(meta["outputs"]))
        module.load_state_dict(load_file(str(weights_path)))
        return cls(module.to(device), source, meta.get("training"))


def piece_table(input_matrix: torch.Tensor, output_matrix: torch.Tensor | None) -> torch.Tensor:
    """The rows the network reads for each source id: input rows, or input and output rows side by side."""
    table = input_matrix.detach().float()
    if output_matrix is not None:
        table = torch.cat([table, output_matrix.detach().float()[: table.shape[0]]], dim=1)
    return table


def batches(decompositions: list[list[int]], max_pieces: int, batch_size: int, *,
            device: torch.device) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Length-sorted batches: ``(positions in the input, (B, L) piece ids, (B, L) mask)`` each."""
    lengths = np.array([min(len(d), max_pieces) for d in decompositions])
    order = np.argsort(lengths, kind="stable")
    out = []
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        width = int(lengths[chunk].max())
        ids = np.zeros((len(chunk), width), dtype=np.int64)
        mask = np.zeros((len(chunk), width), dtype=bool)
        for row, index in enumerate(chunk):
            pieces = decompositions[index][:max_pieces]
            ids[row, :len(pieces)] = pieces
            mask[row, :len(pieces)] = True
        out.append((torch.from_numpy(chunk).to(device), torch.from_numpy(ids).to(device),
                    torch.from_numpy(mask).to(device)))
    return out


def fit_rescalers(module: HypernetModule, table: torch.Tensor, anchors: list[int], *, max_tokens: int = 2048,
                  seed: int = 0) -> None:
    """Fit the frozen in- and out-rescalers on the source rows.

    In: every dimension of the piece rows gets mean 0 and std 0.02. Out (ZeTT layout only): the untrained
    network's predictions for up to ``max_tokens`` single-piece anchor tokens are matched to the per-dimension
    mean and std of their true rows.
    """
    with torch.no_grad():
        mean, std = table.mean(0), table.std(0).clamp_min(1e-8)
        module.in_shift.copy_(mean)
        module.in_scale.copy_(_INIT_RANGE / std)
        if module.config.residual or not anchors:
            return
        rng = np.random.default_rng(seed)
        chosen = rng.choice(np.asarray(anchors), size=min(max_tokens, len(anchors)), replace=False)
        ids = torch.from_numpy(chosen).to(table.device).unsqueeze(1)
        raw = module(table[ids], torch.ones_like(ids, dtype=torch.bool))  # (N, outputs, d)
        truth = table[ids.squeeze(1)].view(len(chosen), module.outputs, module.dim)
        scale = truth.std(0) / raw.std(0).clamp_min(1e-8)
        module.out_scale.copy_(scale)
        module.out_shift.copy_(truth.mean(0) - raw.mean(0) * scale)
