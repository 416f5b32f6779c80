"""Type stub of the compiled LBPE kernel (``lexkit/_lbpe_kernel.c``); see `lexkit._lbpe`."""

class Kernel:
    """One vocabulary's segmenter: reading 0 is ``longest-token``, 1 is ``longest-pair``."""

    def __init__(self, tokens: list[tuple[bytes, int]], reading: int, classes: bytes | None = None) -> None: ...
    def segment(self, content: bytes, /) -> list[int]:
        """Ids of one pre-token's bytes (no cache)."""
    def encode_pieces(self, pieces: list[bytes], /) -> list[int]:
        """Ids of a list of pre-tokens, cached per pre-token."""
    def encode_gpt2(self, texts: list[str], /) -> list[list[int]]:
        """Ids of each text: GPT-2 pre-tokenization in C (needs ``classes``), then the reading."""
    def split_gpt2(self, text: str, /) -> list[bytes]:
        """The GPT-2 pre-tokens of one text as UTF-8 bytes."""
