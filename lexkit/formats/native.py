"""The native, versioned ``lexkit.json``: everything a `Vocabulary` holds, including what foreign formats cannot.

One token per line (content base64, default fields omitted), merges as id lists, components as HF JSON.
Saving the same vocabulary twice yields identical bytes.
"""

from __future__ import annotations

import base64
import json
from os import PathLike
from pathlib import Path
from typing import Any

from lexkit.atomic import atomic_write_text
from lexkit.errors import FormatError
from lexkit.vocabulary import JSON, AddedTokenOptions, Alphabet, Token, TokenKind, Vocabulary

__all__ = ["FORMAT", "VERSION", "SUPPORTED_VERSIONS", "FILENAME", "dumps", "loads", "save", "load"]

FORMAT = "lexkit.vocabulary"
VERSION = 1
SUPPORTED_VERSIONS = (1,)
FILENAME = "lexkit.json"


def _token_json(token: Token) -> JSON:
    out: JSON = {"content": base64.b64encode(token.content).decode("ascii")}
    if token.kind != TokenKind.NORMAL:
        out["kind"] = token.kind.value
    if token.scaffold:
        out["scaffold"] = True
    if token.score is not None:
        out["score"] = token.score
    if token.added is not None:
        out["added"] = {k: v for k, v in vars(token.added).items() if v}
    return out


def dumps(vocabulary: Vocabulary) -> str:
    """The ``lexkit.json`` text of a vocabulary (deterministic)."""
    dump = json.dumps
    head: JSON = {"format": FORMAT, "version": VERSION, "alphabet": vocabulary.alphabet.to_json(),
                  "model": vocabulary.model, "model_options": vocabulary.model_options}
    lines = ["{"]
    lines += [f"  {dump(k)}: {dump(v, ensure_ascii=False, sort_keys=True)}," for k, v in head.items()]
    lines.append('  "tokens": [')
    tokens = [f"    {dump(_token_json(t), sort_keys=True)}" for t in vocabulary.tokens]
    lines.append(",\n".join(tokens))
    lines.append("  ],")
    lines.append('  "merges": [')
    lines.append(",\n".join(f"    {dump(list(m))}" for m in vocabulary.merges))
    lines.append("  ],")
    tail = {
        "normalizer": vocabulary.normalizer, "pre_tokenizer": vocabulary.pre_tokenizer,
        "post_processor": vocabulary.post_processor, "decoder": vocabulary.decoder,
        "metadata": vocabulary.metadata,
    }
    lines.append(",\n".join(f"  {dump(k)}: {dump(v, ensure_ascii=False, sort_keys=True)}" for k, v in tail.items()))
    lines.append("}")
    return "\n".join(lines) + "\n"


def loads(text: str, *, name: str = "<string>") -> Vocabulary:
    """Parse ``lexkit.json`` text.

    Raises:
        FormatError: invalid JSON, a different format, or an unsupported version.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(
            f"{name}: line {exc.lineno} column {exc.colno}: invalid JSON ({exc.msg}); the file is truncated "
            "or corrupt — re-save the vocabulary"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise FormatError(f"{name}: not a lexkit vocabulary (expected \"format\": \"{FORMAT}\")")
    if data.get("version") not in SUPPORTED_VERSIONS:
        raise FormatError(
            f"{name}: lexkit.json version {data.get('version')!r} is not supported (this lexkit reads "
            f"{', '.join(map(str, SUPPORTED_VERSIONS))}); upgrade lexkit"
        )
    try:
        tokens = tuple(_token_from_json(i, t) for i, t in enumerate(data["tokens"]))
        return Vocabulary(
            tokens=tokens,
            merges=tuple(tuple(m) for m in data["merges"]),
            alphabet=Alphabet(**data["alphabet"]),
            model=data.get("model", "bpe"),
            model_options=data.get("model_options") or {},
            normalizer=data.get("normalizer"), pre_tokenizer=data.get("pre_tokenizer"),
            post_processor=data.get("post_processor"), decoder=data.get("decoder"),
            metadata=data.get("metadata") or {},
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise FormatError(f"{name}: inconsistent lexkit vocabulary: {exc}") from None


def _token_from_json(token_id: int, data: dict[str, Any]) -> Token:
    added = data.get("added")
    return Token(
        id=token_id, content=base64.b64decode(data["content"], validate=True),
        kind=TokenKind(data.get("kind", "normal")), scaffold=bool(data.get("scaffold", False)),
        score=data.get("score"), added=AddedTokenOptions(**added) if added is not None else None,
    )


def save(vocabulary: Vocabulary, path: str | PathLike[str]) -> Path:
    """Write ``lexkit.json`` atomically (``path`` may be a folder); returns the file path."""
    path = Path(path)
    if path.is_dir() or not path.suffix:
        path = path / FILENAME
    return atomic_write_text(path, dumps(vocabulary))


def load(path: str | PathLike[str]) -> Vocabulary:
    """Read ``lexkit.json`` (``path`` may be its folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / FILENAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FormatError(f"{path}: no such file; pass a lexkit.json or the folder holding it") from None
    except UnicodeDecodeError as exc:
        raise FormatError(f"{path}: not UTF-8 text at byte {exc.start}; is this a lexkit.json?") from None
    return loads(text, name=str(path))
