"""Models for the fusion-based SSL methods (InfMasking, CoMM) and the baselines, in plain torch.

* Encoders (:mod:`.encoders`): :class:`MLPEncoder`, :class:`AlexNetFeatures` (Trifeature, 256x6x6 at
  224 px), :class:`SmallCNN` (32-64 px CPU runs); ``pool="avg"`` gives a global vector; :func:`build_encoder`.
* Tokenisers (:mod:`.tokenizers`): :func:`sincos_2d`, :class:`FeatureMapTokenizer`,
  :class:`FeatureGroupTokenizer`, :class:`VectorTokenizer`, :class:`InputBlockTokenizer`.
* Fusion: :class:`FusionTransformer` (:mod:`.transformer`; pre-LN, CLS pooling, ``forward_views``),
  :func:`random_token_masks` and :class:`MaskedFusion` (:mod:`.fusion`; full + unimodal + T masked views
  of one augmentation in one batched transformer call).
* Heads (:mod:`.heads`): :class:`ProjectionHead` with per-view BatchNorm (:class:`ViewBatchNorm1d`).

Everything is device-agnostic and runs under ``torch.autocast`` (bfloat16).
"""

from .encoders import AlexNetFeatures, MLPEncoder, SmallCNN, build_encoder
from .fusion import FusionTransformer, MaskedFusion, MaskedFusionOutput, quick_gelu, random_token_masks
from .heads import ProjectionHead, ViewBatchNorm1d
from .tokenizers import (
    FeatureGroupTokenizer,
    FeatureMapTokenizer,
    InputBlockTokenizer,
    VectorTokenizer,
    sincos_2d,
)

__all__ = [
    "AlexNetFeatures",
    "FeatureGroupTokenizer",
    "FeatureMapTokenizer",
    "FusionTransformer",
    "InputBlockTokenizer",
    "MLPEncoder",
    "MaskedFusion",
    "MaskedFusionOutput",
    "ProjectionHead",
    "SmallCNN",
    "VectorTokenizer",
    "ViewBatchNorm1d",
    "build_encoder",
    "quick_gelu",
    "random_token_masks",
    "sincos_2d",
]
