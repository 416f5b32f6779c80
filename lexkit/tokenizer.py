"""`Tokenizer` = a `Vocabulary` + its pipeline + an encoder chosen by name.

Special tokens follow tiktoken's rule: their text in the input raises unless allowed (then it becomes the
special id) or explicitly treated as ordinary text.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from functools import cached_property
from itertools import repeat
from operator import contains
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import regex

from lexkit.component_specs import iter_components
from lexkit.encoders import DEFAULT_ENCODER, Encoder, get_encoder
from lexkit.encoders.visual import GridEncoding, VisualEncoder
from lexkit.errors import EncodingError, LexkitError
from lexkit.formats.hf import surface_scheme
from lexkit.vocabulary import TokenKind, Vocabulary

if TYPE_CHECKING:
    import numpy as np

__all__ = ["SpecialSet", "Tokenizer"]


SpecialSet = Collection[str] | Literal["all"]
logger = logging.getLogger(__name__)


class Tokenizer:
    """Encode and decode text with a vocabulary.

    >>> from lexkit.vocabulary import Vocabulary
    >>> from lexkit.components import byte_level_pre_tokenizer, byte_level_decoder
    >>> v = Vocabulary.from_merges([bytes([b]) for b in range(256)], [(b"h", b"i")],
    ...     pre_tokenizer=byte_level_pre_tokenizer(), decoder=byte_level_decoder())
    >>> tok = Tokenizer(v)
    >>> tok.encode("hi!"), tok.decode(tok.encode("hi!"))
    ([256, 33], 'hi!')
    """

    def __init__(self, vocabulary: Vocabulary, encoder: str | None = None) -> None:
        self.vocabulary = vocabulary
        recorded = vocabulary.metadata.get("encoder")
        self.encoder_name = encoder or (recorded if isinstance(recorded, str) else DEFAULT_ENCODER[vocabulary.model])
        self._encoder: Encoder = get_encoder(self.encoder_name, vocabulary)

    def __repr__(self) -> str:
        return f"Tokenizer({len(self.vocabulary)} tokens, encoder={self.encoder_name!r})"

    @property
    def encoder(self) -> Encoder:
        """The encoder object (its ``backend`` is the HF engine where one is used)."""
        return self._encoder

    # ----------------------------------------------------------------------------------------------------------
    # encoding
    @cached_property
    def _special_pattern(self) -> regex.Pattern[str] | None:
        names = sorted((t.text for t in self.vocabulary.tokens if t.kind == TokenKind.SPECIAL), key=len,
                       reverse=True)  # subtle: longest first, so overlapping specials resolve to the longest
        return regex.compile("|".join(regex.escape(n) for n in names)) if names else None

    @cached_property
    def _special_prefixes(self) -> frozenset[str]:
        return frozenset(name[:2] for name in self._special_names)

    @cached_property
    def _special_names(self) -> frozenset[str]:
        return frozenset(t.text for t in self.vocabulary.tokens if t.kind == TokenKind.SPECIAL)

    def _resolve(self, allowed: SpecialSet, disallowed: SpecialSet) -> tuple[set[str], set[str]]:
        specials = set(self._special_names)
        allowed_set = specials if allowed == "all" else set(allowed)
        unknown = allowed_set - specials
        if unknown:
            raise EncodingError(
                f"allowed_special names {sorted(unknown)[:5]}, which are not special tokens of this vocabulary"
            )
        disallowed_set = (specials - allowed_set) if disallowed == "all" else set(disallowed)
        return allowed_set, disallowed_set

    def _check_disallowed(self, text: str, disallowed: set[str]) -> None:
        if not disallowed or self._special_pattern is None:
            return
        for match in self._special_pattern.finditer(text):
            if match.group() in disallowed:
                raise EncodingError(
                    f"the text contains the special token {match.group()!r} at character {match.start()}. "
                    "To encode it as the special token pass allowed_special={" + repr(match.group()) + "} (or "
                    "allowed_special='all'); to encode it as ordinary text pass disallowed_special=()"
                )

    def encode(
        self,
        text: str,
        *,
        allowed_special: SpecialSet = frozenset(),
        disallowed_special: SpecialSet = "all",
        add_special_tokens: bool = False,
    ) -> list[int]:
        """Token ids of ``text``.

        Args:
            text: the input.
            allowed_special: special-token texts to encode as their special id (``"all"`` for every one).
            disallowed_special: special-token texts whose presence raises (default: all not allowed);
                pass ``()`` to encode them as ordinary text.
            add_special_tokens: run the post-processor (e.g. BERT's ``[CLS] ... [SEP]``, Llama's BOS).

        Raises:
            EncodingError: the text contains a disallowed special token.
        """
        allowed, disallowed = self._resolve(allowed_special, disallowed_special)
        self._check_disallowed(text, disallowed)
        if not allowed or self._special_pattern is None:
            return self._encoder.encode_ordinary(text, add_special_tokens=add_special_tokens)
        ids: list[int] = []
        start = 0
        specials = self.vocabulary.special_tokens
        for match in self._special_pattern.finditer(text):
            if match.group() not in allowed:
                continue
            if match.start() > start:
                ids += self._encoder.encode_ordinary(text[start:match.start()])
            ids.append(specials[match.group()])
            start = match.end()
        if start < len(text):
            ids += self._encoder.encode_ordinary(text[start:])
        return self._encoder.post_process(ids) if add_special_tokens else ids

    def encode_ordinary(self, text: str) -> list[int]:
        """Token ids of ``text`` with special-token texts treated as ordinary text."""
        return self._encoder.encode_ordinary(text)

    def encode_batch(
        self,
        texts: Sequence[str],
        *,
        allowed_special: SpecialSet = frozenset(),
        disallowed_special: SpecialSet = "all",
        add_special_tokens: bool = False,
    ) -> list[list[int]]:
        """`encode` over many texts; the engine spreads them (and the pieces of long ones) over every core."""
        allowed, disallowed = self._resolve(allowed_special, disallowed_special)
        if allowed and self._special_pattern is not None:
            return [self.encode(t, allowed_special=allowed, disallowed_special=disallowed,
                                add_special_tokens=add_special_tokens) for t in texts]
        scanned = self._scanned(texts, disallowed, add_special_tokens)
        if scanned is not None:
            from lexkit.engine import split_flat

            return split_flat(*scanned)
        self._check_batch(texts, disallowed)
        return self._encoder.encode_ordinary_batch(texts, add_special_tokens=add_special_tokens)

    def encode_batch_flat(
        self,
        texts: Sequence[str],
        *,
        allowed_special: SpecialSet = frozenset(),
        disallowed_special: SpecialSet = "all",
        add_special_tokens: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """`encode_batch` as one ``uint32`` id array and ``len(texts) + 1`` offsets (text ``i`` is
        ``ids[offsets[i]:offsets[i + 1]]``): no Python object per token, the fastest form for bulk work."""
        allowed, disallowed = self._resolve(allowed_special, disallowed_special)
        if allowed and self._special_pattern is not None:
            import numpy as np

            lists = self.encode_batch(texts, allowed_special=allowed, disallowed_special=disallowed,
                                      add_special_tokens=add_special_tokens)
            offsets = np.zeros(len(lists) + 1, dtype=np.int64)
            np.cumsum([len(ids) for ids in lists], out=offsets[1:])
            return np.fromiter((i for ids in lists for i in ids), dtype=np.uint32, count=int(offsets[-1])), offsets
        scanned = self._scanned(texts, disallowed, add_special_tokens)
        if scanned is not None:
            return scanned
        self._check_batch(texts, disallowed)
        return self._encoder.encode_ordinary_batch_flat(texts, add_special_tokens=add_special_tokens)

    def _scanned(self, texts: Sequence[str], disallowed: set[str], add_special_tokens: bool
                 ) -> tuple[np.ndarray, np.ndarray] | None:
        """Ids of ``texts`` from an engine that found no special-token text while encoding; None when it found
        one, cannot look, or there is nothing to look for (the exact scan in `_check_batch` then decides)."""
        scan = getattr(self._encoder, "encode_ordinary_batch_flat_scanned", None)
        if not disallowed or add_special_tokens or scan is None:
            return None
        return scan(texts)

    def _check_batch(self, texts: Sequence[str], disallowed: set[str]) -> None:
        if disallowed and self._special_pattern is not None:
            # A C-level substring scan per text and distinct two-character prefix; the regex runs only on a hit.
            # subtle: texts are scanned one by one, not joined: one joined string takes the widest character
            # kind of all texts (a single emoji makes it 4 bytes a character), which made the scan 2-3x slower.
            for prefix in self._special_prefixes:
                if any(map(contains, texts, repeat(prefix))):
                    for text in texts:
                        self._check_disallowed(text, disallowed)
                    return

    def encode_grid(self, grid: Any) -> GridEncoding:
        """Visual BPE: token ids and positions of one 2-D code grid (needs the ``visual`` encoder).

        Raises:
            LexkitError: this tokenizer's encoder does not take grids.
        """
        return self._visual_encoder().encode_grid(grid)

    def decode_grid(self, ids: Sequence[int], height: int, width: int) -> np.ndarray:
        """Visual BPE: the exact code grid (height x width) that ``ids`` stand for."""
        return self._visual_encoder().decode_grid(ids, height, width)

    def _visual_encoder(self) -> VisualEncoder:
        if not isinstance(self._encoder, VisualEncoder):
            raise LexkitError(
                f"encoder {self.encoder_name!r} encodes text, not code grids; load a visual-bpe vocabulary "
                "(its lexkit.json records encoder 'visual')"
            )
        return self._encoder

    # ----------------------------------------------------------------------------------------------------------
    # decoding
    def token_to_bytes(self, token_id: int) -> bytes:
        """The exact content of one token.

        Raises:
            LexkitError: the id is outside the vocabulary.
        """
        if not 0 <= token_id < len(self.vocabulary):
            raise LexkitError(f"token id {token_id} is outside the vocabulary (0..{len(self.vocabulary) - 1})")
        return self.vocabulary.tokens[token_id].content

    @cached_property
    def _decode_rules(self) -> tuple[str, bool, bytes]:
        """(scheme, strip one leading space, continuation prefix) derived from the pipeline."""
        scheme, _ = surface_scheme(self.vocabulary)
        prefix = b""
        if self.vocabulary.model == "wordpiece":
            prefix = str(self.vocabulary.model_options.get("continuing_subword_prefix", "##")).encode()
        strip = False
        if scheme == "metaspace":
            for component in iter_components(self.vocabulary.decoder):
                if component.get("type") == "Metaspace":
                    strip = component.get("prepend_scheme", "always") != "never" and component.get(
                        "add_prefix_space", True)
                if component.get("type") == "Strip" and component.get("start", 0) > 0:
                    strip = True
        return scheme, strip, prefix

    def decode_bytes(self, ids: Sequence[int], *, skip_special_tokens: bool = False) -> bytes:
        """The bytes ``ids`` stand for, with the decoder's word-boundary rules (dummy prefix, ``##``)."""
        realize = getattr(self._encoder, "decode_bytes", None)
        if realize is not None:  # encoders whose ids decode in context (morph: allomorphs)
            decoded: bytes = realize(ids, skip_special_tokens=skip_special_tokens)
            return decoded
        scheme, strip, prefix = self._decode_rules
        # Byte-level WordPiece (ByteSpan) pieces carry their own spaces: no space goes between words.
        separator = b"" if scheme == "byte-level" else b" "
        tokens = self.vocabulary.tokens
        parts: list[bytes] = []
        for position, token_id in enumerate(ids):
            token = tokens[token_id] if 0 <= token_id < len(tokens) else None
            if token is None:
                raise LexkitError(f"token id {token_id} at position {position} is outside the vocabulary")
            if skip_special_tokens and token.kind == TokenKind.SPECIAL:
                continue
            content = token.content
            if prefix and token.kind == TokenKind.NORMAL and parts:
                # HF's WordPiece decoder: a continuation joins the previous piece; the first piece stays as is.
                content = content[len(prefix):] if content.startswith(prefix) else separator + content
            parts.append(content)
        out = b"".join(parts)
        if strip and out.startswith(b" "):
            out = out[1:]
        return out

    def decode(self, ids: Sequence[int], *, errors: str = "replace", skip_special_tokens: bool = False) -> str:
        """The text ``ids`` stand for; invalid UTF-8 (a token sequence cut mid-character) becomes U+FFFD."""
        return self.decode_bytes(ids, skip_special_tokens=skip_special_tokens).decode("utf-8", errors=errors)

    # ----------------------------------------------------------------------------------------------------------
    # files
    def save(self, directory: str | PathLike[str], *, allow_lossy: bool = False) -> Path:
        """Write ``lexkit.json`` (authoritative) and, where this encoder has an exact form, ``tokenizer.json``.

        The folder is replaced atomically. ``tokenizer.json`` is left out (the reason logged) when the encoder or
        alphabet cannot be expressed in it, e.g. Scaffold-BPE's demerge; ``allow_lossy=True`` writes the closest
        plain-BPE form instead.
        """
        from lexkit.atomic import atomic_directory, atomic_write_text
        from lexkit.errors import LossyConversionError
        from lexkit.formats import hf, native

        directory = Path(directory)
        with atomic_directory(directory) as staging:
            native.save(self.vocabulary, staging / native.FILENAME)
            if self.vocabulary.alphabet.kind == "bytes":
                try:
                    export = self._encoder.to_hf(allow_lossy=allow_lossy)
                except LossyConversionError as exc:
                    logger.info("%s: no tokenizer.json (%s)", directory, exc)
                else:
                    atomic_write_text(staging / "tokenizer.json", hf.dumps(export))
        return directory

    @classmethod
    def load(cls, path: str | PathLike[str], *, encoder: str | None = None) -> Tokenizer:
        """Load from a folder or file: ``lexkit.json``, ``tokenizer.json``, a sentencepiece ``.model`` (also
        ``.model.v1`` and other ``.model.vN``, as Mistral names them) or ``.tiktoken`` ranks (GPT-2 pattern unless a
        ``pattern`` is recorded beside it).

        Raises:
            FormatError: nothing loadable at ``path``.
        """
        from lexkit.formats import load_vocabulary

        vocabulary = load_vocabulary(path)
        recorded = vocabulary.metadata.get("encoder")
        return cls(vocabulary, encoder=encoder or (recorded if isinstance(recorded, str) else None))



