"""Fixtures of the CLI tests for transfer commands: the tiny tokenizers and Llama factory of tests/transfer.

They are taken from ``tests/transfer/conftest.py`` (loaded by path, so the two folders share one definition
instead of a copy); pytest registers the fixture objects re-exported here for the tests of this folder.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location("_transfer_conftest",
                                               Path(__file__).parents[1] / "transfer" / "conftest.py")
assert _spec is not None and _spec.loader is not None
_transfer = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_transfer)

make_llama = _transfer.make_llama
prose = _transfer.prose
source_tokenizer = _transfer.source_tokenizer
target_tokenizer = _transfer.target_tokenizer
