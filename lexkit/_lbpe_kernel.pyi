"""Type stub of the compiled LBPE kernel (``lexkit/_lbpe_kernel.c``); see `lexkit._lbpe`."""

def lists_from_flat(ids: bytes, offsets: bytes, /) -> list[list[int]]:
    """One list per text from `Kernel.encode_gpt2_flat`'s ``uint32`` ids and ``int64`` offsets."""

class Kernel:
    """One vocabulary's segmenter: reading 0 is ``longest-token``, 1 ``longest-pair``, 2 ``fewest-tokens``.

    One thread at a time: a call from another thread while ``encode_gpt2`` runs raises RuntimeError."""

    def __init__(self, tokens: list[tuple[bytes, int]], reading: int, classes: bytes | None = None) -> None: ...
    def segment(self, content: bytes, /) -> list[int]:
        """Ids of one pre-token's bytes (no cache)."""
    def encode_pieces(self, pieces: list[bytes], /) -> list[int]:
        """Ids of a list of pre-tokens, cached per pre-token."""
    def encode_gpt2(self, texts: list[str], /) -> list[list[int]]:
        """Ids of each text: GPT-2 pre-tokenization in C (needs ``classes``), then the reading; GIL released."""
    def encode_gpt2_flat(self, texts: list[str], /) -> tuple[bytes, bytes]:
        """`encode_gpt2` as ``uint32`` ids and ``len(texts) + 1`` ``int64`` offsets, both as raw bytes."""
    def split_gpt2(self, text: str, /) -> list[bytes]:
        """The GPT-2 pre-tokens of one text as UTF-8 bytes."""
