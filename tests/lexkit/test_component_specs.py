"""`iter_components` on the component JSON of real tokenizers and on nested Sequences."""

from __future__ import annotations

import _resources

from lexkit.component_specs import iter_components
from lexkit.formats.hf import from_hf


def test_nested_sequences_depth_first() -> None:
    spec = {"type": "Sequence", "normalizers": [
        {"type": "NFC"}, {"type": "Sequence", "normalizers": [{"type": "Lowercase"}, {"type": "Strip"}]}]}
    assert [c["type"] for c in iter_components(spec)] == ["Sequence", "NFC", "Sequence", "Lowercase", "Strip"]
    assert list(iter_components(None)) == []


def test_real_gpt2_decoder_and_pre_tokenizer() -> None:
    vocabulary = from_hf(_resources.gpt2_tokenizer_json())
    assert [c["type"] for c in iter_components(vocabulary.pre_tokenizer)] == ["ByteLevel"]
    assert [c["type"] for c in iter_components(vocabulary.decoder)] == ["ByteLevel"]
