"""Exact byte-level probabilities and sampling from tokenized language models (``specs/sampling.md``).

A token-level LM becomes a byte-level LM through the Byte-Token Representation lemma of Phan et al.
(arXiv 2410.09303): the probability of a byte prefix is the sum over its cover encodings. torch and transformers
are imported only when `HFCausalLM` is built.
"""

from lexkit.sampling.adapter import TokenizerAdapter as TokenizerAdapter
from lexkit.sampling.bytelm import EOS as EOS
from lexkit.sampling.bytelm import ByteLM as ByteLM
from lexkit.sampling.bytelm import ByteState as ByteState
from lexkit.sampling.bytelm import generate_from as generate_from
from lexkit.sampling.bytelm import naive_next_byte as naive_next_byte
from lexkit.sampling.bytelm import sample_byte as sample_byte
from lexkit.sampling.ensemble import ByteEnsemble as ByteEnsemble
from lexkit.sampling.ensemble import EnsembleState as EnsembleState
from lexkit.sampling.fim import ContextLM as ContextLM
from lexkit.sampling.fim import fim_generate as fim_generate
from lexkit.sampling.lm import HFCausalLM as HFCausalLM
from lexkit.sampling.lm import OracleLM as OracleLM
from lexkit.sampling.lm import TokenLM as TokenLM
from lexkit.sampling.lm import markov_strings as markov_strings
from lexkit.sampling.lm import markov_texts as markov_texts
from lexkit.sampling.lm import next_byte_truth as next_byte_truth
from lexkit.sampling.loading import load_byte_lm as load_byte_lm
