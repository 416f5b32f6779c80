"""Shared helpers for the benchmarks: where fixtures live, and reading a text sample."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def fixtures_dir() -> Path:
    """The fixture cache (``make fixtures``), or ``$LEXKIT_FIXTURES``."""
    path = Path(os.environ.get("LEXKIT_FIXTURES", ROOT / "cache" / "fixtures"))
    if not path.exists():
        raise SystemExit(f"{path}: no fixtures; run `make fixtures` first")
    return path


def load_text(path: Path | None, megabytes: float) -> list[str]:
    """The first ``megabytes`` of a text file as lines (default: the English mix ``corpus_10M.txt``)."""
    path = path or fixtures_dir() / "corpus" / "corpus_10M.txt"
    if not path.exists():
        raise SystemExit(f"{path}: missing; run `make fixtures` (it builds the English corpus)")
    limit = int(megabytes * 1e6)
    lines, total = [], 0
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            lines.append(line)
            total += len(line.encode("utf-8"))
            if total >= limit:
                break
    return lines


def log_progress() -> None:
    """INFO logs with timestamps on stderr, without the chatter of HTTP and transformers loggers."""
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for noisy in ("httpx", "transformers", "lexkit.vocabulary"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def load_gguf(path: Path) -> tuple[Any, Any]:
    """A GGUF causal LM de-quantized to float32 in eval mode, and its tokenizer (via transformers)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    return model.eval(), tokenizer


def timed_lexkit(args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one ``lexkit`` CLI run, loading included (GNU time)."""
    lexkit = Path(sys.executable).with_name("lexkit")
    done = subprocess.run(["/usr/bin/time", "-f", "%e %M", str(lexkit), *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"lexkit {' '.join(args)} failed: {done.stderr.strip().splitlines()[-2:]}")
    wall, rss_kb = done.stderr.strip().splitlines()[-1].split()
    return float(wall), int(rss_kb) / 1024
