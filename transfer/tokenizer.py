"""One view of a tokenizer for transfer: exact token bytes, special-token roles, and an HF tokenizer.

Transfer accepts tokenizers in every form a user has at hand (a lexkit `Tokenizer` or `Vocabulary`, an HF
``PreTrainedTokenizerFast``, a ``tokenizers.Tokenizer``, or a path to any of their files) and needs three things
from each: the lexkit `Vocabulary` (token bytes are the truth for anchor matching), the special-token roles
(bos/eos/pad/unk/mask, for matching specials by role), and a transformers tokenizer (what `transplant` returns
and saves). `TransferTokenizer` holds all three. Roles come from the HF tokenizer when there is one, otherwise from
the vocabulary's own role table (`Vocabulary.special_roles`: ``<s>``, ``</s>``, ``<|endoftext|>``...).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from functools import cached_property
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lexkit.encoders import DEFAULT_ENCODER, HFEncoder
from lexkit.errors import FormatError, LexkitError
from lexkit.formats import surface as bu
from lexkit.formats.hf import surface_scheme
from lexkit.tokenizer import Tokenizer
from lexkit.transfer._models import model_tokenizer_source
from lexkit.vocabulary import TokenKind, Vocabulary

if TYPE_CHECKING:
    import tokenizers
    from transformers import PreTrainedTokenizerBase

__all__ = ["ROLES", "TEXT_KINDS", "TokenizerLike", "TransferTokenizer"]

logger = logging.getLogger(__name__)

# The roles transfer matches anchors by and carries across a swap (a subset of the vocabulary's SPECIAL_ROLES).
ROLES = ("bos", "eos", "pad", "unk", "mask")
# Text tokens: the only kinds whose bytes are decoded text (and so can be decomposed or embedded as text).
TEXT_KINDS = (TokenKind.NORMAL, TokenKind.BYTE)

TokenizerLike = Any  # lexkit Tokenizer | Vocabulary | PreTrainedTokenizerFast | tokenizers.Tokenizer | path


class TransferTokenizer:
    """A tokenizer as transfer sees it: vocabulary (exact bytes), roles, and a transformers tokenizer.

    Args:
        vocabulary: the lexkit vocabulary (dense ids, exact token bytes).
        roles: role name (``bos``, ``eos``, ``pad``, ``unk``, ``mask``) -> token id.
        hf: the transformers tokenizer, when the input was one; built from the vocabulary on first use otherwise.
    """

    def __init__(self, vocabulary: Vocabulary, roles: Mapping[str, int],
                 hf: PreTrainedTokenizerBase | None = None) -> None:
        self.vocabulary = vocabulary
        self.roles = dict(roles)
        self._hf = hf

    def __len__(self) -> int:
        return len(self.vocabulary)

    # ----------------------------------------------------------------------------------------------------------
    # construction
    @classmethod
    def of_model(cls, model: Any, path: Path | None, tokenizer: TokenizerLike | None = None) -> TransferTokenizer:
        """The tokenizer a model was trained with: ``tokenizer`` when given, else the one stored with the model."""
        if tokenizer is not None:
            return cls.from_any(tokenizer, what="source tokenizer")
        location = model_tokenizer_source(model, path)
        if location is None:
            raise LexkitError(
                "the source model's tokenizer is unknown: the model was passed as an object whose name_or_path holds "
                "no tokenizer files; pass source_tokenizer= (the tokenizer the model was trained with)"
            )
        return cls.from_any(location, what="source tokenizer")

    @classmethod
    def from_any(cls, tokenizer: TokenizerLike, *, what: str = "tokenizer") -> TransferTokenizer:
        """Build a transfer tokenizer from a lexkit, HF or ``tokenizers`` object, or from a path to a tokenizer file or folder.

        Args:
            tokenizer: the tokenizer in any supported form.
            what: how error messages name this argument (e.g. ``"target tokenizer"``).

        Raises:
            FormatError: a path does not exist or holds no readable tokenizer.
            LexkitError: the object is of an unsupported type, or an HF tokenizer is a slow (Python) one.
        """
        if isinstance(tokenizer, TransferTokenizer):
            return tokenizer
        if isinstance(tokenizer, Tokenizer):
            default = DEFAULT_ENCODER[tokenizer.vocabulary.model]
            if tokenizer.encoder_name != default:
                raise LexkitError(
                    f"the {what} uses the {tokenizer.encoder_name!r} encoder; transfer hands the model a "
                    f"transformers tokenizer built from tokenizer.json, which encodes like {default!r} and would "
                    f"give different ids; pass Tokenizer(vocabulary, encoder={default!r}) or a tokenizer.json"
                )
            return cls._from_vocabulary(tokenizer.vocabulary)
        if isinstance(tokenizer, Vocabulary):
            return cls._from_vocabulary(tokenizer)
        if isinstance(tokenizer, str | PathLike):
            return cls._from_path(Path(tokenizer), what)
        if hasattr(tokenizer, "backend_tokenizer") and hasattr(tokenizer, "special_tokens_map"):
            return cls._from_hf(tokenizer)
        if type(tokenizer).__module__.startswith("tokenizers") and hasattr(tokenizer, "to_str"):
            return cls._from_backend(tokenizer)
        if hasattr(tokenizer, "special_tokens_map"):
            raise LexkitError(
                f"the {what} is a slow (pure-Python) transformers tokenizer ({type(tokenizer).__name__}); "
                "transfer reads exact token bytes from tokenizer.json, which only fast tokenizers have; "
                "load it with AutoTokenizer.from_pretrained(path, use_fast=True) or pass its tokenizer.json path"
            )
        raise LexkitError(
            f"the {what} has unsupported type {type(tokenizer).__name__}; transfer cannot read its vocabulary; "
            "pass a lexkit Tokenizer, a transformers fast tokenizer, a tokenizers.Tokenizer or a path"
        )

    @classmethod
    def _from_vocabulary(cls, vocabulary: Vocabulary) -> TransferTokenizer:
        return cls(vocabulary, _roles_from_names(vocabulary))

    @classmethod
    def _from_backend(cls, backend: tokenizers.Tokenizer) -> TransferTokenizer:
        from lexkit.formats.hf import from_hf

        vocabulary = from_hf(json.loads(backend.to_str()))
        side = cls._from_vocabulary(vocabulary)
        side._hf = side._wrap(backend)
        return side

    @classmethod
    def _from_hf(cls, hf: PreTrainedTokenizerBase) -> TransferTokenizer:
        from lexkit.formats.hf import from_hf

        vocabulary = from_hf(json.loads(hf.backend_tokenizer.to_str()))
        roles: dict[str, int] = {}
        for role in ROLES:
            token = getattr(hf, f"{role}_token", None)
            if token is None:
                continue
            token_id = hf.convert_tokens_to_ids(str(token))
            if isinstance(token_id, int) and 0 <= token_id < len(vocabulary):
                roles[role] = token_id
        if roles:
            return cls(vocabulary, roles, hf)
        # A bare tokenizer.json wrapped without role arguments: fall back to conventional names, and give the
        # returned tokenizer those roles too (a copy; the caller's object is not modified).
        side = cls._from_vocabulary(vocabulary)
        side._hf = side._wrap(hf.backend_tokenizer)
        if isinstance(getattr(hf, "chat_template", None), str):
            side._hf.chat_template = hf.chat_template
        return side

    @classmethod
    def _from_path(cls, path: Path, what: str) -> TransferTokenizer:
        if not path.exists():
            raise FormatError(
                f"{path}: no such file or folder (the {what}); pass an existing tokenizer.json, lexkit.json, "
                ".model, .tiktoken or .gguf file, or a folder holding one"
            )
        if path.suffix == ".gguf":
            from lexkit.transfer.gguf_embeddings import gguf_tokenizer_type

            return cls._from_hf(_auto_tokenizer(path.parent, what, gguf_file=path.name, **gguf_tokenizer_type(path)))
        if path.is_dir():
            if (path / "tokenizer_config.json").exists():
                return cls._from_hf(_auto_tokenizer(path, what))
            if not (path / "lexkit.json").exists() and (path / "tokenizer.json").exists():
                path = path / "tokenizer.json"
        if path.is_file() and path.suffix == ".json" and path.name != "lexkit.json":
            from tokenizers import Tokenizer as Backend

            try:
                return cls._from_backend(Backend.from_file(str(path)))
            except Exception as exc:  # tokenizers raises a bare Exception on malformed files
                raise FormatError(
                    f"{path}: HF tokenizers cannot read this file ({str(exc).splitlines()[0]}); the {what} must "
                    "be a valid tokenizer.json — re-export it with tokenizer.save_pretrained(folder)"
                ) from None
        return cls._from_vocabulary(Tokenizer.load(path).vocabulary)

    # ----------------------------------------------------------------------------------------------------------
    # the transformers tokenizer
    def _wrap(self, backend: tokenizers.Tokenizer) -> PreTrainedTokenizerBase:
        from transformers import PreTrainedTokenizerFast

        kwargs = {f"{role}_token": self.vocabulary.tokens[token_id].text for role, token_id in self.roles.items()}
        tokenizer: PreTrainedTokenizerBase = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
            tokenizer_object=backend, **kwargs)
        return tokenizer

    @property
    def hf(self) -> PreTrainedTokenizerBase:
        """The transformers fast tokenizer (built from the vocabulary's ``tokenizer.json`` when needed).

        Raises:
            LossyConversionError: the vocabulary holds what tokenizer.json cannot express (scaffold flags).
        """
        if self._hf is None:
            from tokenizers import Tokenizer as Backend

            from lexkit.formats.hf import dumps, to_hf

            self._hf = self._wrap(Backend.from_str(dumps(to_hf(self.vocabulary))))
        return self._hf

    @property
    def chat_template(self) -> str | None:
        """The chat template of the HF tokenizer this was built from, if any."""
        if self._hf is None:
            return None
        template = getattr(self._hf, "chat_template", None)
        return template if isinstance(template, str) else None

    # ----------------------------------------------------------------------------------------------------------
    # per-token views
    def roles_of(self, token_id: int) -> tuple[str, ...]:
        """The roles token ``token_id`` plays, in `ROLES` order."""
        return tuple(role for role in ROLES if self.roles.get(role) == token_id)

    def text(self, token_id: int) -> str:
        """The decoded text of one token (invalid UTF-8 shown as U+FFFD), as auxiliary embedders read it."""
        return self.vocabulary.tokens[token_id].content.decode("utf-8", errors="replace")

    @cached_property
    def _model(self) -> Any:
        """The HF ``tokenizers`` model (BPE/WordPiece/Unigram) that splits one pre-token into ids."""
        if self._hf is not None:
            return self._hf.backend_tokenizer.model
        encoder = Tokenizer(self.vocabulary).encoder
        assert isinstance(encoder, HFEncoder), "every registered text encoder runs on the HF engine"
        return encoder.backend.model

    def decompose(self, content: bytes) -> list[int]:
        """Split raw bytes into this tokenizer's tokens with its model alone (no normalizer, no pre-tokenizer).

        Decomposing the bytes directly, rather than encoding text through the full pipeline, avoids the extra
        ``▁`` a SentencePiece dummy prefix would add to a word-initial token.
        Unknown-token pieces are dropped; an empty list means the bytes have no decomposition here.

        Args:
            content: the bytes to split, e.g. a target token's content.

        Returns:
            Token ids of this tokenizer whose contents concatenate to ``content`` (up to dropped pieces).
        """
        vocabulary = self.vocabulary
        scheme, replacement = surface_scheme(vocabulary)
        if scheme == "byte-level":
            ids = [t.id for t in self._model.tokenize(bu.encode_surface(content))]
        else:
            ids = []
            for segment, is_text in _utf8_segments(content):
                if not is_text:
                    ids += [vocabulary.byte_ids[b] for b in segment if b in vocabulary.byte_ids]
                    continue
                text = segment.decode("utf-8")
                if scheme == "metaspace":
                    text = text.replace(" ", replacement)
                elif vocabulary.model == "wordpiece":
                    text = text.strip()  # WordPiece pieces carry no spaces; a word start is implied
                if text:
                    ids += [t.id for t in self._model.tokenize(text)]
        return [i for i in ids if vocabulary.tokens[i].kind in TEXT_KINDS]


def _utf8_segments(content: bytes) -> list[tuple[bytes, bool]]:
    """Split bytes into maximal valid-UTF-8 runs and runs of stray bytes: ``[(run, is_text), ...]``."""
    text = content.decode("utf-8", errors="surrogateescape")
    segments: list[tuple[bytes, bool]] = []
    current: list[str] = []
    current_text = True
    for char in text:
        is_text = not 0xDC80 <= ord(char) <= 0xDCFF
        if current and is_text != current_text:
            segments.append(("".join(current).encode("utf-8", "surrogateescape"), current_text))
            current = []
        current.append(char)
        current_text = is_text
    if current:
        segments.append(("".join(current).encode("utf-8", "surrogateescape"), current_text))
    return segments


def _roles_from_names(vocabulary: Vocabulary) -> dict[str, int]:
    """The vocabulary's own roles (`Vocabulary.special_roles`, by conventional names) that transfer uses."""
    return {role: token_id for role, token_id in vocabulary.special_roles().ids.items() if role in ROLES}


def _auto_tokenizer(folder: Path, what: str, **kwargs: Any) -> PreTrainedTokenizerBase:
    """``AutoTokenizer.from_pretrained`` with transformers' errors turned into one-line lexkit errors."""
    from transformers import AutoTokenizer

    try:
        tokenizer: PreTrainedTokenizerBase = AutoTokenizer.from_pretrained(str(folder), **kwargs)
    except (OSError, ValueError, KeyError) as exc:
        raise FormatError(
            f"{folder}: transformers cannot load the {what} here ({str(exc).splitlines()[0]}); "
            "pass a folder saved with save_pretrained, or the tokenizer.json file itself"
        ) from None
    if not hasattr(tokenizer, "backend_tokenizer"):
        raise LexkitError(
            f"{folder}: the {what} loads as a slow tokenizer ({type(tokenizer).__name__}) without a "
            "tokenizer.json; transfer needs exact token bytes; convert it once with "
            "AutoTokenizer.from_pretrained(folder, use_fast=True).save_pretrained(folder)"
        )
    return tokenizer
