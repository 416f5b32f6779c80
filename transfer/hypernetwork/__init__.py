"""ZeTT-style hypernetwork transfer: predict embeddings for any target tokenizer.

ZeTT: zero-shot tokenizer transfer, Minixhofer et al. 2024.

`train` fits a `Hypernetwork` for one frozen source model on text with a new random tokenizer every step;
`transplant(..., method="hypernetwork", hypernetwork=PATH)` uses it. This package imports torch.
"""

from lexkit.transfer.hypernetwork.network import HypernetConfig as HypernetConfig
from lexkit.transfer.hypernetwork.network import Hypernetwork as Hypernetwork
from lexkit.transfer.hypernetwork.sampler import SampledTokenizer as SampledTokenizer
from lexkit.transfer.hypernetwork.sampler import TokenizerSampler as TokenizerSampler
from lexkit.transfer.hypernetwork.training import PRESETS as PRESETS
from lexkit.transfer.hypernetwork.training import TrainConfig as TrainConfig
from lexkit.transfer.hypernetwork.training import train as train

__all__ = [
    "HypernetConfig", "Hypernetwork", "SampledTokenizer", "TokenizerSampler", "PRESETS", "TrainConfig",
    "train",
]
