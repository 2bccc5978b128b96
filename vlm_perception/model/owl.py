# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
OWL-ViT and OWLv2 through transformers, on a lean path of our own.

The weights, tokenizer and image-processor settings come from a hub id or a local folder
via transformers (``from_pretrained``, safetensors preferred, never ``trust_remote_code``).
Inference does not go through the HF processor or the full model forward:

* preprocessing in torch on the device, equal in effect to the HF image processor:
  OWL-ViT resizes to the square input (bicubic, as an 8-bit image, as PIL does); OWLv2
  pads to a square at the bottom/right, blurs when shrinking (sigma = (factor - 1) / 2)
  and resizes bilinearly; both normalise with CLIP mean/std;
* text embeddings are computed only for uncached queries (the Detector's cache);
* per frame: the image encoder once, then the class and box heads; the box bias is
  computed once (the input grid is fixed);
* fused_features (Q, D_f): for each query, the class embedding of the patch that matches
  it best (L2-normalised, D_f = the class head's width): the region the model would point
  at for that query, as seen by the model;
* int8 (CPU) quantises the image encoder's Linear layers.
"""

import json

import torch
import torch.nn.functional as F

from .boxes import box_bias
from .errors import ModelLoadError
from .image import CLIP_MEAN, CLIP_STD, gaussian_blur, InputGeometry, normalise
from .image import pad_bottom_right, resize, resize_8bit, to_rgb

MODEL_CLASSES = {'owlvit': 'OwlViTForObjectDetection', 'owlv2': 'Owlv2ForObjectDetection'}
PROCESSOR_FILE = 'preprocessor_config.json'


def hub_model_type(model_id, **hub_options):
    """Return the model_type of a hub id (or HF folder) via transformers' AutoConfig."""
    from transformers import AutoConfig
    try:
        return AutoConfig.from_pretrained(model_id, **hub_options).model_type
    except Exception as error:  # transformers raises OSError, ValueError, HTTP errors...
        raise ModelLoadError(f'cannot load model config for {model_id}: '
                             f'{_first_line(error)}') from None


def quiet_transformers(function, *args, **kwargs):
    """Call ``function`` with transformers' progress bars off (they clutter node logs)."""
    from transformers.utils import logging as hf_logging
    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        return function(*args, **kwargs)
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


def _first_line(error):
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _read_processor_config(model_id, **hub_options):
    """Return the preprocessor_config.json dict of a folder or hub id ({} if it has none)."""
    from transformers.utils import cached_file
    path = cached_file(model_id, PROCESSOR_FILE, _raise_exceptions_for_missing_entries=False,
                       **hub_options)
    if path is None:
        return {}
    with open(path, encoding='utf-8') as stream:
        return json.load(stream)


class OwlBackend:
    """OWL-ViT / OWLv2 behind the Detector interface (see the module docstring)."""

    def __init__(self, model, tokenizer, kind, model_id, device, dtype, quantize=False,
                 processor_config=None):
        import transformers
        if kind not in MODEL_CLASSES:
            raise ValueError(f'kind must be one of {sorted(MODEL_CLASSES)}')
        self.name = kind
        self.model_id = model_id
        model = model.to(device=device, dtype=dtype).eval()
        base = model.owlvit if kind == 'owlvit' else model.owlv2
        if quantize:
            from .detector import quantize_linear_layers
            base.vision_model = quantize_linear_layers(base.vision_model)
        self.model, self.base, self.tokenizer = model, base, tokenizer
        self.device, self.dtype = device, dtype
        processor_config = processor_config or {}
        vision_config = model.config.vision_config
        size = processor_config.get('size') or {}
        self.input_size = int(size.get('height', vision_config.image_size))
        if int(size.get('width', self.input_size)) != self.input_size:
            raise ValueError('OWL models take square inputs')
        self.image_mean = tuple(processor_config.get('image_mean', CLIP_MEAN))
        self.image_std = tuple(processor_config.get('image_std', CLIP_STD))
        grid = self.input_size // vision_config.patch_size
        self.box_bias = box_bias(grid, grid, 1.0, device).to(dtype)
        self.max_text_length = model.config.text_config.max_position_embeddings
        self.vision_dim = self.text_dim = model.config.projection_dim
        self.fused_dim = model.config.text_config.hidden_size
        self.transformers_version = transformers.__version__

    @classmethod
    def load(cls, model_id, kind, device, dtype, quantize=False, **hub_options):
        """
        Load weights, tokenizer and processor settings; ModelLoadError names model_id.

        ``hub_options`` go to every from_pretrained (local_files_only for a cached hub id).
        """
        import transformers
        model_class = getattr(transformers, MODEL_CLASSES[kind])
        try:
            model = quiet_transformers(model_class.from_pretrained, model_id, dtype=dtype,
                                       **hub_options)
            tokenizer = transformers.AutoTokenizer.from_pretrained(model_id, **hub_options)
            processor_config = _read_processor_config(model_id, **hub_options)
        except Exception as error:  # transformers raises many types; the message is kept
            raise ModelLoadError(f'cannot load {kind} model {model_id}: '
                                 f'{_first_line(error)}') from None
        if model.config.model_type != kind:
            raise ModelLoadError(f'{model_id} is a {model.config.model_type} model, '
                                 f'not {kind}')
        return cls(model, tokenizer, kind, model_id, device, dtype, quantize, processor_config)

    def encode_text(self, texts):
        """Return (Q, D_t) L2-normalised query embeddings (as the HF forward makes them)."""
        # A query longer than the text model's 16 tokens is truncated; cutting the string
        # first bounds the tokenizer's work on absurdly long input.
        texts = [text[:64 * self.max_text_length] for text in texts]
        tokens = self.tokenizer(texts, padding='max_length', truncation=True,
                                max_length=self.max_text_length, return_tensors='pt')
        features = self.base.get_text_features(
            input_ids=tokens['input_ids'].to(self.device),
            attention_mask=tokens['attention_mask'].to(self.device))
        if not isinstance(features, torch.Tensor):
            features = features.pooler_output
        return F.normalize(features, dim=-1)

    def prepare(self, image, channel_order):
        """Return pixel values (1, 3, S, S) and InputGeometry for an uploaded uint8 image."""
        height, width = image.shape[:2]
        size = self.input_size
        pixels = to_rgb(image, channel_order)
        if self.name == 'owlvit':
            pixels = resize_8bit(pixels, size, size, mode='bicubic')
            geometry = InputGeometry(height, width, size / height, size / width, size, size)
        else:
            side = max(height, width)
            pixels = pad_bottom_right(pixels.float(), side, side)
            sigma = max(0.0, (side / size - 1.0) / 2.0)
            pixels = gaussian_blur(pixels, sigma, sigma)
            pixels = resize(pixels, size, size, mode='bilinear', antialias=False)
            geometry = InputGeometry(height, width, size / side, size / side, size, size)
        return normalise(pixels, self.image_mean, self.image_std, self.dtype), geometry

    def run(self, pixel_values, text_embeds):
        """Return logits (P, Q), boxes (P, 4) cxcywh, image embed (D_v,), fused (Q, D_f)."""
        vision = self.base.vision_model(pixel_values=pixel_values)
        tokens = self.base.vision_model.post_layernorm(vision.last_hidden_state)
        # OWL's patch features: each patch token times the class token, then LayerNorm.
        features = self.model.layer_norm(tokens[:, 1:] * tokens[:, :1])
        logits, class_embeds = self.model.class_head(features, text_embeds[None], None)
        boxes = (self.model.box_head(features) + self.box_bias).sigmoid()
        image_embed = F.normalize(self.base.visual_projection(vision.pooler_output), dim=-1)
        fused = class_embeds[0, logits[0].argmax(dim=0)]
        return logits[0], boxes[0], image_embed[0], F.normalize(fused, dim=-1)
