"""`CountConfig`: how a corpus is read and where its pre-tokens are counted, in one frozen object.

The caller (the ``lexkit train`` command, `lexkit.vocab.train`, or a library user) builds it once and passes it
down to `lexkit.corpus.count_pre_tokens`, which hands it to the local or the Dask counting path unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["Binary", "CountConfig", "Engine", "Errors", "check_policies"]

Errors = Literal["error", "replace", "skip"]
Binary = Literal["error", "skip"]
Engine = Literal["local", "dask"]

#: The Dask options' defaults: any other value needs ``engine="dask"``.
_DASK_DEFAULTS = {"scheduler": None, "reduce_min_count": 1, "shard_bytes": None, "timeout": 10.0}


def check_policies(errors: str, binary: str) -> None:
    """Raise ValueError unless ``errors`` and ``binary`` are policies `lexkit.corpus.iter_texts` knows."""
    if errors not in ("error", "replace", "skip"):
        raise ValueError(f"errors={errors!r} is not one of 'error', 'replace', 'skip'; pass one of those")
    if binary not in ("error", "skip"):
        raise ValueError(f"binary={binary!r} is not one of 'error', 'skip'; pass one of those")


@dataclass(frozen=True)
class CountConfig:
    """How `lexkit.corpus.count_pre_tokens` reads a corpus and counts its pre-tokens.

    The pipeline (normalizer, pre-tokenizer) is not here: it belongs to the trainer's configuration.

    Attributes:
        text_column: the dataset column holding the text.
        errors: invalid UTF-8 policy (see `lexkit.corpus.iter_texts`).
        binary: binary file policy (see `lexkit.corpus.iter_texts`).
        workers: counting processes (local) or local-cluster workers (Dask); None means ``os.cpu_count()``,
            1 counts in this process.
        min_count: drop pre-tokens seen fewer times in the whole corpus.
        block_bytes: size of the file blocks sent to local workers.
        engine: ``"local"`` counts in a process pool on this machine; ``"dask"`` on a Dask cluster
            (`lexkit.corpus.dask`), with identical results.
        scheduler: Dask only: a ``"tcp://HOST:PORT"`` scheduler address or a ``distributed.Client``; None starts
            a local cluster of ``workers`` processes for the call.
        reduce_min_count: Dask only: drop pre-tokens below this count from every partial table while reducing
            (approximate, saves memory; 1 keeps counts exact; see `lexkit.corpus.dask.count_on_dask`).
        shard_bytes: Dask only: the size of the byte ranges text files are cut into; None picks a quarter of each
            worker's share of the corpus, between 1 MiB and 64 MiB.
        timeout: Dask only: seconds to wait for a scheduler address to answer and to have a worker.

    Raises:
        ValueError: a policy is unknown, a number is out of range, or a Dask option goes with
            ``engine="local"``.

    >>> CountConfig(workers=1).engine
    'local'
    """

    text_column: str = "text"
    errors: Errors = "error"
    binary: Binary = "error"
    workers: int | None = None
    min_count: int = 1
    block_bytes: int = 4 << 20
    engine: Engine = "local"
    scheduler: str | Client | None = None
    reduce_min_count: int = 1
    shard_bytes: int | None = None
    timeout: float = 10.0

    def __post_init__(self) -> None:
        check_policies(self.errors, self.binary)
        if self.engine not in ("local", "dask"):
            raise ValueError(f"engine={self.engine!r} is not one of 'local', 'dask'; pass one of those")
        if self.engine == "local":
            given = [name for name, default in _DASK_DEFAULTS.items() if getattr(self, name) != default]
            if given:
                raise ValueError(
                    f"{'= and '.join(given)}= apply to the Dask engine only; pass engine='dask' (--engine dask)"
                )
        workers = 1 if self.workers is None else self.workers
        numbers = (workers, self.min_count, self.block_bytes, self.reduce_min_count, self.shard_bytes or 1)
        if min(numbers) < 1 or self.timeout <= 0:
            raise ValueError(
                f"workers={self.workers}, min_count={self.min_count}, block_bytes={self.block_bytes}, "
                f"reduce_min_count={self.reduce_min_count} and shard_bytes={self.shard_bytes} must be at least 1 "
                f"and timeout={self.timeout} above 0"
            )
