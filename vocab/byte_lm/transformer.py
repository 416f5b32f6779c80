"""A small causal byte-level transformer trained by lexkit (torch; ``device=``), saved to and loaded from a folder.

The ByteSpan authors extract signals from a 57M-parameter LLaMA-style byte LM trained for 50,000 steps on
FineWeb-Edu (arXiv 2506.18639). This is the same kind of model at toy scale so it trains in minutes on a
CPU: pre-norm transformer blocks, learned absolute positions, a context window of ``context`` bytes, byte 256
as the begin-of-text symbol, output tied to the input embedding. Anything larger can be trained elsewhere and
plugged in through `lexkit.vocab.byte_lm.hf.HFByteLM`.

Scoring slides the window over long texts by three quarters of its length, so every byte after the first window
sees at least ``context / 4`` bytes of history, at a third more compute than one pass.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lexkit.errors import ByteLMError, require
from lexkit.vocab.byte_lm import ByteSignals

if TYPE_CHECKING:
    import torch

__all__ = ["CONFIG_FILE", "TransformerByteLM", "TransformerByteLMConfig", "score_windows"]

CONFIG_FILE = "byte_lm.json"
WEIGHTS_FILE = "byte_lm.pt"
FORMAT = "lexkit.byte_lm.transformer"
BOS = 256
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TransformerByteLMConfig:
    """Model shape and training budget.

    Args:
        d_model: width of the residual stream.
        layers: transformer blocks.
        heads: attention heads (``d_model`` must be divisible by it).
        context: window length in bytes.
        steps: optimizer steps (training also stops after ``max_seconds``).
        batch_size: windows per step.
        learning_rate: peak AdamW learning rate (linear warm-up over 5 % of the steps, cosine decay).
        max_seconds: wall-clock cap on training, None for none.
        seed: seeds weight initialisation and window sampling.
    """

    d_model: int = 64
    layers: int = 2
    heads: int = 4
    context: int = 128
    steps: int = 1000
    batch_size: int = 32
    learning_rate: float = 2e-3
    max_seconds: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if min(self.d_model, self.layers, self.heads, self.context, self.steps, self.batch_size) < 1:
            raise ByteLMError(f"transformer byte LM sizes and steps must be positive; got {self}")
        if self.d_model % self.heads:
            raise ByteLMError(f"d_model {self.d_model} is not divisible by heads {self.heads}; change one of them")
        if self.context < 2:
            raise ByteLMError(f"context {self.context} is too short; pass context=64 or more")


def _build(config: TransformerByteLMConfig) -> torch.nn.Module:
    torch: Any = require("torch")
    nn = torch.nn

    class ByteTransformer(nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(257, config.d_model)
            self.position = nn.Embedding(config.context, config.d_model)
            layer = nn.TransformerEncoderLayer(
                config.d_model, config.heads, 4 * config.d_model, dropout=0.0, batch_first=True, norm_first=True,
                activation="gelu",
            )
            self.blocks = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(config.d_model)
            # Small embeddings: with the output tied to them, unit-variance rows would start with logits of
            # spread ~sqrt(d_model) and a needlessly peaked first prediction, which slows training several-fold.
            nn.init.normal_(self.embed.weight, std=0.02)
            nn.init.normal_(self.position.weight, std=0.02)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            """Logits over the 256 next bytes, shape (B, T, 256), for input ids (B, T)."""
            length = ids.shape[1]
            positions = torch.arange(length, device=ids.device)
            hidden = self.embed(ids) + self.position(positions)
            mask = nn.Transformer.generate_square_subsequent_mask(length, device=ids.device)
            hidden = self.norm(self.blocks(hidden, mask=mask, is_causal=True))
            logits: torch.Tensor = hidden @ self.embed.weight[:256].T
            return logits

    return ByteTransformer()


def score_windows(
    logits: Callable[[torch.Tensor], torch.Tensor], texts: Sequence[bytes], *, context: int, bos: int,
    token_of_byte: np.ndarray, device: Any, batch_size: int = 16,
) -> list[ByteSignals]:
    """Per-byte surprisal and entropy from a causal model over the byte alphabet, by sliding windows.

    The input of text t is ``[bos] + t`` and output j predicts byte j. The first window covers outputs
    ``0..context-1``; later windows advance by ``context - context // 4`` and keep all but their first quarter.

    Args:
        logits: maps input ids (B, T) to next-token logits (B, T, V); only the 256 byte columns are used.
        texts: the byte strings.
        context: the model's window length (at least 2).
        bos: id of the begin-of-text symbol.
        token_of_byte: (256,) model id of every byte.
        device: torch device of the model.
        batch_size: windows per forward pass.
    """
    torch: Any = require("torch")
    history = context // 4
    advance = max(context - history, 1)
    jobs: list[tuple[int, int, int, int]] = []  # (text, window start, first kept output, end)
    for number, text in enumerate(texts):
        size = len(text)
        start = 0
        while True:
            end = min(start + context, size)
            keep = 0 if start == 0 else start + history
            jobs.append((number, start, min(keep, end), end))
            if end >= size:
                break
            start += advance
    surprisal = [np.zeros(len(t)) for t in texts]
    entropy = [np.zeros(len(t)) for t in texts]
    lookup = torch.as_tensor(np.asarray(token_of_byte, dtype=np.int64), device=device)
    inputs_all = [np.concatenate([[bos], token_of_byte[np.frombuffer(t, dtype=np.uint8)]]) for t in texts]
    with torch.inference_mode():
        for first in range(0, len(jobs), batch_size):
            batch = [job for job in jobs[first:first + batch_size] if job[3] > job[2]]
            if not batch:
                continue
            width = max(end - start for _, start, _, end in batch)
            ids = np.full((len(batch), width), bos, dtype=np.int64)
            targets = np.zeros((len(batch), width), dtype=np.int64)
            for row, (number, start, _, end) in enumerate(batch):
                ids[row, :end - start] = inputs_all[number][start:end]
                targets[row, :end - start] = np.frombuffer(texts[number], dtype=np.uint8)[start:end]
            out = logits(torch.as_tensor(ids, device=device)).float()
            log_probs = torch.log_softmax(out.index_select(-1, lookup), dim=-1)
            chosen = -log_probs.gather(-1, torch.as_tensor(targets, device=device)[..., None])[..., 0]
            spread = -(log_probs.exp() * log_probs).sum(-1)
            chosen_np, spread_np = chosen.cpu().numpy(), spread.cpu().numpy()
            for row, (number, start, keep, end) in enumerate(batch):
                surprisal[number][keep:end] = chosen_np[row, keep - start:end - start]
                entropy[number][keep:end] = spread_np[row, keep - start:end - start]
    return [ByteSignals(s, e) for s, e in zip(surprisal, entropy)]


class TransformerByteLM:
    """A trained causal byte transformer: `train` it on byte strings, `score`, `save`, `load`.

    >>> lm = TransformerByteLM.train([b"abcabcabc"] * 8, TransformerByteLMConfig(d_model=16, heads=2, layers=1,
    ...                              context=16, steps=5, batch_size=4))
    >>> lm.score([b"abc"])[0].entropy.shape
    (3,)
    """

    name = "transformer"

    def __init__(self, model: torch.nn.Module, config: TransformerByteLMConfig, *, device: str = "cpu",
                 history: dict[str, Any] | None = None) -> None:
        from lexkit.device import resolve_device

        self.config = config
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.history = history or {}

    def __repr__(self) -> str:
        return f"TransformerByteLM({self.config}, device={self.device!s})"

    @classmethod
    def train(cls, texts: Sequence[bytes], config: TransformerByteLMConfig | None = None, *, device: str = "cpu",
              progress: bool = False) -> TransformerByteLM:
        """Train on random windows of ``texts`` (next-byte cross-entropy).

        Args:
            texts: training byte strings (each window stays inside one text).
            config: model shape and budget (defaults: 2 layers of width 64, 1,000 steps).
            device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
            progress: show a progress bar on stderr.

        Raises:
            ByteLMError: ``texts`` holds no byte.
        """
        torch: Any = require("torch")
        from lexkit.device import resolve_device

        config = config or TransformerByteLMConfig()
        usable = [t for t in texts if t]
        if not usable:
            raise ByteLMError("no training bytes for the transformer byte LM; pass a non-empty corpus")
        resolved = resolve_device(device)
        generator = np.random.default_rng(config.seed)
        torch.manual_seed(config.seed)
        model = _build(config).to(resolved)
        optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.01)
        warmup = max(config.steps // 20, 1)

        def rate(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(config.steps - warmup, 1)))

        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, rate)
        inputs = [np.concatenate([[BOS], np.frombuffer(t, dtype=np.uint8)]).astype(np.int64) for t in usable]
        weights = np.array([len(t) for t in usable], dtype=np.float64)
        weights /= weights.sum()
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=config.steps, desc="byte LM steps", unit="step")
        started = time.perf_counter()
        losses: list[float] = []
        model.train()
        for _ in range(config.steps):
            ids = np.full((config.batch_size, config.context), BOS, dtype=np.int64)
            targets = np.full((config.batch_size, config.context), -100, dtype=np.int64)
            for row, number in enumerate(generator.choice(len(inputs), size=config.batch_size, p=weights)):
                sequence = inputs[number]
                start = int(generator.integers(0, max(len(sequence) - 1 - config.context, 0) + 1))
                window = sequence[start:start + config.context + 1]
                ids[row, :len(window) - 1] = window[:-1]
                targets[row, :len(window) - 1] = window[1:]
            logits = model(torch.as_tensor(ids, device=resolved))
            loss = torch.nn.functional.cross_entropy(
                logits.reshape(-1, 256), torch.as_tensor(targets, device=resolved).reshape(-1), ignore_index=-100)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
            if bar is not None:
                bar.update()
                bar.set_postfix(bits_per_byte=f"{losses[-1] / math.log(2):.3f}")
            if config.max_seconds is not None and time.perf_counter() - started > config.max_seconds:
                break
        if bar is not None:
            bar.close()
        tail = losses[-max(len(losses) // 10, 1):]
        history = {"steps": len(losses), "seconds": round(time.perf_counter() - started, 2),
                   "final_bits_per_byte": round(float(np.mean(tail)) / math.log(2), 4),
                   "training_bytes": int(sum(len(t) for t in usable)), "device": str(resolved)}
        logger.info("byte transformer trained: %s", history)
        return cls(model, config, device=str(resolved), history=history)

    def score(self, texts: Sequence[bytes]) -> list[ByteSignals]:
        """Surprisal and entropy (nats) of every byte, by sliding windows (`score_windows`)."""
        return score_windows(self.model, texts, context=self.config.context, bos=BOS,
                             token_of_byte=np.arange(256), device=self.device)

    def save(self, folder: str | PathLike[str]) -> Path:
        """Write ``byte_lm.json`` (configuration, training record) and the weights into ``folder``, atomically."""
        torch: Any = require("torch")
        import io

        from lexkit.atomic import atomic_directory

        folder = Path(folder)
        with atomic_directory(folder) as staging:
            record = {"format": FORMAT, "version": 1, "config": asdict(self.config), "history": self.history}
            (staging / CONFIG_FILE).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
            buffer = io.BytesIO()
            torch.save({k: v.detach().cpu() for k, v in self.model.state_dict().items()}, buffer)
            (staging / WEIGHTS_FILE).write_bytes(buffer.getvalue())
        return folder

    @classmethod
    def load(cls, folder: str | PathLike[str], *, device: str = "cpu") -> TransformerByteLM:
        """Load a model written by `save`.

        Raises:
            ByteLMError: the folder lacks the files, or they are not a lexkit byte transformer.
        """
        torch: Any = require("torch")
        folder = Path(folder)
        try:
            record = json.loads((folder / CONFIG_FILE).read_text())
            if record.get("format") != FORMAT or record.get("version") != 1:
                raise ValueError(f"format {record.get('format')!r} version {record.get('version')!r}")
            config = TransformerByteLMConfig(**record["config"])
            state = torch.load(folder / WEIGHTS_FILE, map_location="cpu", weights_only=True)
            model = _build(config)
            model.load_state_dict(state)
        except Exception as exc:  # torch.load reports damaged files with many unrelated exception types
            raise ByteLMError(
                f"{folder}: not a lexkit byte transformer ({exc}); write one with TransformerByteLM.save"
            ) from None
        return cls(model, config, device=device, history=record.get("history"))
