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
import os

import torch
from torch import nn
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


def read_processor_config(model_id, **hub_options):
    """Return the preprocessor_config.json dict of a folder or hub id ({} if it has none)."""
    from transformers.utils import cached_file
    path = cached_file(model_id, PROCESSOR_FILE, _raise_exceptions_for_missing_entries=False,
                       **hub_options)
    if path is None:
        return {}
    with open(path, encoding='utf-8') as stream:
        return json.load(stream)


class OwlTextEncoder(nn.Module):
    """OWL's text tower: token ids (N, L) and mask -> (N, D_t) L2-normalised query embeddings."""

    def __init__(self, text_model, text_projection):
        super().__init__()
        self.text_model = text_model
        self.text_projection = text_projection

    def forward(self, input_ids, attention_mask):
        """Return the query embeddings as OWL's get_text_features makes them, normalised."""
        pooled = self.text_model(input_ids=input_ids, attention_mask=attention_mask).pooler_output
        return F.normalize(self.text_projection(pooled), dim=-1)


class OwlImagePath(nn.Module):
    """
    OWL's image path: pixel values (1, 3, S, S) and query embeddings (Q, D_t) in.

    Out: logits (P, Q), boxes (P, 4) cxcywh, pooled image embedding (D_v,) and fused
    (Q, D_f) (see the module docstring). The image encoder, the class and box heads and
    the box bias of the fixed input grid: what an exported runtime replaces.
    """

    def __init__(self, model, kind, box_bias_of_grid):
        super().__init__()
        base = model.owlvit if kind == 'owlvit' else model.owlv2
        self.vision_model = base.vision_model
        self.visual_projection = base.visual_projection
        self.layer_norm = model.layer_norm
        self.class_head = model.class_head
        self.box_head = model.box_head
        self.register_buffer('box_bias', box_bias_of_grid, persistent=False)

    def forward(self, pixel_values, text_embeds):
        """Run the image encoder once and both heads (shapes in the class docstring)."""
        vision = self.vision_model(pixel_values=pixel_values)
        tokens = self.vision_model.post_layernorm(vision.last_hidden_state)
        # OWL's patch features: each patch token times the class token, then LayerNorm.
        features = self.layer_norm(tokens[:, 1:] * tokens[:, :1])
        logits, class_embeds = self.class_head(features, text_embeds[None], None)
        boxes = (self.box_head(features) + self.box_bias).sigmoid()
        image_embed = F.normalize(self.visual_projection(vision.pooler_output), dim=-1)
        fused = class_embeds[0, logits[0].argmax(dim=0)]
        return logits[0], boxes[0], image_embed[0], F.normalize(fused, dim=-1)


class OwlBackend:
    """
    OWL-ViT / OWLv2 behind the Detector interface (see the module docstring).

    ``OwlBackend(config, tokenizer, text_encoder, image_path, kind, ...)``: the text
    encoder is an :class:`OwlTextEncoder`; the image path an :class:`OwlImagePath`, or
    an exported runtime's stand-in for it (``vlm_perception.model.runtimes``).
    ``OwlBackend.load`` builds both from a transformers model.
    """

    def __init__(self, config, tokenizer, text_encoder, image_path, kind, model_id, device,
                 dtype, processor_config=None):
        import transformers
        if kind not in MODEL_CLASSES:
            raise ValueError(f'kind must be one of {sorted(MODEL_CLASSES)}')
        self.name = kind
        self.model_id = model_id
        self.config, self.tokenizer = config, tokenizer
        self.text_encoder = text_encoder.to(device=device, dtype=dtype).eval()
        self.image_path = image_path
        self.device, self.dtype = device, dtype
        self.input_size, self.image_mean, self.image_std = input_settings(config,
                                                                          processor_config)
        self.max_text_length = config.text_config.max_position_embeddings
        self.vision_dim = self.text_dim = config.projection_dim
        self.fused_dim = config.text_config.hidden_size
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
            processor_config = read_processor_config(model_id, **hub_options)
        except Exception as error:  # transformers raises many types; the message is kept
            raise ModelLoadError(f'cannot load {kind} model {model_id}: '
                                 f'{_first_line(error)}') from None
        if model.config.model_type != kind:
            raise ModelLoadError(f'{model_id} is a {model.config.model_type} model, '
                                 f'not {kind}')
        return cls.from_model(model, tokenizer, kind, model_id, device, dtype, quantize,
                              processor_config)

    @classmethod
    def from_model(cls, model, tokenizer, kind, model_id, device, dtype, quantize=False,
                   processor_config=None):
        """Build the backend around a transformers OWL model (int8: quantise its ViT)."""
        model = model.to(device=device, dtype=dtype).eval()
        base = model.owlvit if kind == 'owlvit' else model.owlv2
        if quantize:
            from .detector import quantize_linear_layers
            base.vision_model = quantize_linear_layers(base.vision_model)
        size = input_settings(model.config, processor_config)[0]
        grid = size // model.config.vision_config.patch_size
        image_path = OwlImagePath(model, kind, box_bias(grid, grid, 1.0, device).to(dtype))
        return cls(model.config, tokenizer, OwlTextEncoder(base.text_model, base.text_projection),
                   image_path.eval(), kind, model_id, device, dtype, processor_config)

    def encode_text(self, texts):
        """Return (Q, D_t) L2-normalised query embeddings (as the HF forward makes them)."""
        # A query longer than the text model's 16 tokens is truncated; cutting the string
        # first bounds the tokenizer's work on absurdly long input.
        texts = [text[:64 * self.max_text_length] for text in texts]
        tokens = self.tokenizer(texts, padding='max_length', truncation=True,
                                max_length=self.max_text_length, return_tensors='pt')
        return self.text_encoder(tokens['input_ids'].to(self.device),
                                 tokens['attention_mask'].to(self.device))

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
        return self.image_path(pixel_values, text_embeds)


def input_settings(config, processor_config):
    """Return (square input size, image mean, image std) from the processor settings."""
    processor_config = processor_config or {}
    size = processor_config.get('size') or {}
    input_size = int(size.get('height', config.vision_config.image_size))
    if int(size.get('width', input_size)) != input_size:
        raise ValueError('OWL models take square inputs')
    return (input_size, tuple(processor_config.get('image_mean', CLIP_MEAN)),
            tuple(processor_config.get('image_std', CLIP_STD)))


TEXT_ENCODER_FILE = 'text_encoder.safetensors'


def save_torch_side(backend, folder):
    """
    Write what an exported OWL folder keeps in torch: config, tokenizer, text encoder.

    config.json (transformers' OWL config), the tokenizer files, preprocessor_config.json
    (the input size and normalisation) and text_encoder.safetensors (the text tower and
    its projection): the image tower lives in the exported graph only.
    """
    from safetensors.torch import save_file
    backend.config.save_pretrained(folder)
    backend.tokenizer.save_pretrained(folder)
    processor = {'size': {'height': backend.input_size, 'width': backend.input_size},
                 'image_mean': list(backend.image_mean), 'image_std': list(backend.image_std)}
    with open(os.path.join(folder, PROCESSOR_FILE), 'w', encoding='utf-8') as stream:
        json.dump(processor, stream, indent=2)
    state = {name: tensor.detach().to('cpu', torch.float32).contiguous()
             for name, tensor in backend.text_encoder.state_dict().items()}
    save_file(state, os.path.join(folder, TEXT_ENCODER_FILE), metadata={'format': 'pt'})


def load_exported_owl(folder, kind, device, image_path):
    """Return an OwlBackend from an exported folder's torch side and a runtime image path."""
    import transformers
    from safetensors.torch import load_file
    from transformers.models.owlvit.modeling_owlvit import OwlViTTextTransformer
    try:
        config = transformers.AutoConfig.from_pretrained(folder)
        tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
        processor_config = read_processor_config(folder)
        state = load_file(os.path.join(folder, TEXT_ENCODER_FILE))
    except Exception as error:  # transformers and safetensors raise many types
        raise ModelLoadError(f'cannot load the torch side of {folder}: {_first_line(error)}') \
            from None
    text = config.text_config
    if getattr(text, '_attn_implementation', None) is None:
        text._attn_implementation = 'sdpa'  # as from_pretrained chooses
    # OWLv2's text tower is OWL-ViT's (transformers copies the class).
    encoder = OwlTextEncoder(OwlViTTextTransformer(text),
                             nn.Linear(text.hidden_size, config.projection_dim, bias=False))
    try:
        encoder.load_state_dict(state)
    except RuntimeError as error:
        raise ModelLoadError(f'{folder}/{TEXT_ENCODER_FILE} does not fit its config.json: '
                             f'{_first_line(error)}') from None
    return OwlBackend(config, tokenizer, encoder, image_path, kind, folder, device,
                      torch.float32, processor_config)
