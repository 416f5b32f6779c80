"""Resumable partial results: one JSON line per finished token, tagged with a fingerprint of the run's inputs."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path

from lexkit.analysis.sticky.config import METRICS

__all__ = ["load_checkpoint", "append_checkpoint"]

logger = logging.getLogger(__name__)


def load_checkpoint(path: Path, fingerprint: str) -> dict[int, dict[str, float]]:
    """Rows ``{token_id: {metric: value}}`` of ``path`` written under ``fingerprint`` (others and a truncated last
    line, from an interrupted write, are ignored); empty when the file does not exist."""
    if not path.exists():
        return {}
    rows: dict[int, dict[str, float]] = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                logger.warning("%s: ignoring a truncated line (an interrupted write)", path)
                continue
            if record.get("fingerprint") == fingerprint:
                rows[int(record["token_id"])] = {m: float(record[m]) for m in METRICS}
    logger.info("%s: resuming with %d finished tokens", path, len(rows))
    return rows


def append_checkpoint(path: Path, fingerprint: str, rows: Mapping[int, Mapping[str, float]]) -> None:
    """Append finished ``rows`` to ``path``, one JSON line per token, tagged with ``fingerprint``."""
    with open(path, "a", encoding="utf-8") as handle:
        for token_id, values in rows.items():
            handle.write(json.dumps({"fingerprint": fingerprint, "token_id": token_id, **values}) + "\n")
