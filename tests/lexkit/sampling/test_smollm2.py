"""SmolLM2-135M (GGUF fixture): the byte-level method on a real model. Slow (loads the model)."""

from __future__ import annotations

import numpy as np
import pytest
from _resources import smollm2_gguf

from lexkit.sampling import load_byte_sampler


@pytest.mark.slow
def test_smollm2_covers_midtoken_prompt_and_calls_per_byte():
    path = smollm2_gguf()
    byte_lm = load_byte_sampler(path.parent, gguf_file=path.name, device="cpu", bos_id=0, mask_floor=1e-6)

    # BTR: the byte-level prefix probability sums over covers, so it is at least the canonical encoding's.
    text = b"The quick brown fox jumps"
    canonical = float(byte_lm.lm.next_token_logprobs([byte_lm.adapter.encode(text)])[0][0])
    assert byte_lm.logprob(text) >= canonical - 1e-6

    # A prompt that ends inside the token "world": the exact method continues the identifier.
    probs = byte_lm.next_byte_probs("import numpy as np\ndef hello_wor")
    assert probs.sum() == pytest.approx(1.0)
    assert int(np.argmax(probs)) == ord("l")

    # one model call per byte, plus one per re-split whitespace run (here: the indentation after a newline)
    state = byte_lm.start("def add(a, b):\n")
    calls = byte_lm.lm.forward_calls
    for _ in range(6):
        state = byte_lm.push(state, int(np.argmax(byte_lm.next_byte_logprobs(state))))
    assert 6 <= byte_lm.lm.forward_calls - calls <= 12
