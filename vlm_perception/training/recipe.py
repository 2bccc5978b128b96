# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
The training recipe: every hyperparameter of the shipped default model, in one place.

``vlm-perception train --out DIR`` with no other option reruns exactly this
recipe (same seed, same steps) and reproduces the shipped weights up to
floating-point differences between machines. Options on the command line
override single fields; the recipe used is written next to the weights.
"""

from dataclasses import asdict, dataclass, field, fields

from vlm_perception.training.loss import LossWeights
from vlm_perception.world import DEFAULT_SIZES, HELD_OUT_PAIRS


def _default_model():
    """Return the VLMConfig fields of the default model (others keep VLMConfig's defaults)."""
    # A ViT on 16-pixel tokens whose convolutional stem has two extra 3x3 layers per
    # scale: with the plain stem, pilots never learned to tell shapes apart.
    return {'image_size': [240, 320], 'patch_size': 16, 'patch_embedding': 'conv',
            'stem_depth': 2, 'vision_dim': 128, 'vision_depth': 4, 'vision_heads': 4,
            'vision_mlp_dim': 512, 'text_dim': 128, 'text_depth': 2, 'text_heads': 4,
            'text_mlp_dim': 512, 'projection_dim': 128, 'fusion_dim': 128, 'fusion_depth': 2,
            'fusion_heads': 4, 'fusion_mlp_dim': 512}


def _default_loss():
    """Return the LossWeights of the default recipe."""
    return asdict(LossWeights(auxiliary=1.0, auxiliary_stem=True, composition=1.0))


@dataclass
class Recipe:
    """Hyperparameters of one training run (see the module docstring)."""

    seed: int = 0
    steps: int = 3000
    batch_size: int = 16
    learning_rate: float = 1e-3
    min_learning_rate: float = 1e-5     # the cosine schedule ends here
    warmup_steps: int = 200
    weight_decay: float = 0.05
    stem_learning_rate_scale: float = 1.0   # the convolutional stem learns at lr times this
    grad_clip: float = 1.0
    queries_per_image: int = 48         # >= 48: every target of the world, every image
    # The default score threshold: lowest with at most this share of absent-object
    # commands answered, on this many training-split scenes (see evaluate.choose_threshold).
    calibration_scenes: int = 200
    calibration_false_positive_rate: float = 0.02
    sizes: list = field(default_factory=lambda: [list(size) for size in DEFAULT_SIZES])
    held_out: list = field(default_factory=lambda: [list(pair) for pair in HELD_OUT_PAIRS])
    loss: dict = field(default_factory=_default_loss)
    model: dict = field(default_factory=_default_model)

    def to_dict(self):
        """Return a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data):
        """Build from :meth:`to_dict` output (missing keys keep their defaults)."""
        known = {f.name for f in fields(cls)}
        extra = set(data) - known
        if extra:
            raise ValueError(f'unknown recipe keys {sorted(extra)}')
        return cls(**data)


DEFAULT_RECIPE = Recipe()
