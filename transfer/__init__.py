"""lexkit.transfer: give a pretrained causal LM a new tokenizer by transplanting its embeddings.

Layers:
1. `init_embeddings`: one matrix, on arrays: anchors copied, new rows estimated by a `Method`.
2. `transplant`: a whole model: both matrices, tying, config, tokenizer; `TransplantResult.save`.
3. `evaluate`: bits per byte of original and transplanted models on identical text; `compare_bpb`.
4. `heal`: train a transplanted model's new embedding rows to match the original model (`lexkit.transfer.heal`).

torch, transformers and faiss are imported inside the functions that use them, so importing this package
stays light.
"""

from lexkit.device import resolve_device as resolve_device
from lexkit.transfer.anchors import AnchorMatch as AnchorMatch
from lexkit.transfer.anchors import canonical_key as canonical_key
from lexkit.transfer.anchors import match_anchors as match_anchors
from lexkit.transfer.auxiliary import AuxiliaryEmbedder as AuxiliaryEmbedder
from lexkit.transfer.auxiliary import auxiliary_embedder as auxiliary_embedder
from lexkit.transfer.evaluate import BPBComparison as BPBComparison
from lexkit.transfer.evaluate import BPBResult as BPBResult
from lexkit.transfer.evaluate import compare_bpb as compare_bpb
from lexkit.transfer.evaluate import evaluate as evaluate
from lexkit.transfer.heal import Budget as Budget
from lexkit.transfer.heal import HealConfig as HealConfig
from lexkit.transfer.heal import HealResult as HealResult
from lexkit.transfer.heal import HealStep as HealStep
from lexkit.transfer.heal import heal as heal
from lexkit.transfer.methods import Method as Method
from lexkit.transfer.methods import TokenProvenance as TokenProvenance
from lexkit.transfer.methods import TransferConfig as TransferConfig
from lexkit.transfer.methods import TransferReport as TransferReport
from lexkit.transfer.methods import init_embeddings as init_embeddings
from lexkit.transfer.omp import batched_omp as batched_omp
from lexkit.transfer.tokenizer import TransferTokenizer as TransferTokenizer
from lexkit.transfer.transplant import TransplantResult as TransplantResult
from lexkit.transfer.transplant import transplant as transplant

__all__ = [
    "AnchorMatch", "canonical_key", "match_anchors", "AuxiliaryEmbedder", "auxiliary_embedder",
    "BPBComparison", "BPBResult", "compare_bpb", "evaluate", "Budget", "HealConfig", "HealResult",
    "HealStep", "heal", "Method", "TokenProvenance", "TransferConfig", "TransferReport", "init_embeddings",
    "batched_omp", "TransferTokenizer", "TransplantResult", "transplant",
]
