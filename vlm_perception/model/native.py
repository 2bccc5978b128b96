# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
The native vision-language detector: ViT + text transformer + fusion + OWL-style heads.

Architecture (all sizes from :class:`VLMConfig`, every tensor batch-first):

* Vision: patch embedding of stride ``patch_size`` (``'linear'``: one Linear on each
  flattened 16x16 patch, the reference ViT; ``'conv'``: a 4x4 patchify convolution and
  stride-2 3x3 convolutions, each followed by ``stem_depth`` stride-1 3x3 ones, which
  recognises shapes better), a CLS token, learned
  positional embeddings (bicubically interpolated to any patch grid, so non-square and
  other-sized inputs work), ``vision_depth`` pre-norm layers. Output: (B, 1 + P, vision_dim).
* Text: word-level tokens (:class:`VLMTokenizer`), token and position embeddings,
  ``text_depth`` pre-norm layers with key padding, the [CLS] output projected to
  ``projection_dim`` and L2-normalised: the query embedding, (N, D_t).
* Pooled image embedding: the CLS output projected to ``projection_dim`` and
  L2-normalised, (B, D_v) with D_v = D_t = projection_dim (CLIP-style shared space).
* Fusion: image tokens and query embeddings are projected to ``fusion_dim``, tagged with a
  learned modality embedding, concatenated ``[CLS, patches, queries]`` and passed through
  ``fusion_depth`` pre-norm layers. Image tokens attend to image tokens only, each query
  attends to the image tokens and itself; padded queries are masked out as keys. So the
  patch features never depend on which queries were asked, and a query's result does not
  depend on the other queries in the command. The fused query token is ``fused``
  (B, Q, D_f): that query's view of this image.
* Heads (OWL-ViT): per fused patch token a class embedding, cosine-compared with each fused
  query, plus a learned per-patch shift and scale -> ``logits`` (B, P, Q) before sigmoid;
  an MLP predicting box offsets added to the box bias of the patch (centre, patch size in
  logit space) -> ``pred_boxes`` (B, P, 4) cx, cy, w, h normalised to the input H, W.

Model input: :meth:`VLMForDetection.preprocess` resizes a frame to fit ``image_size``
keeping its aspect ratio (a model trained at one scale fails on much larger frames fed at
full size), pads it to a multiple of ``patch_size`` and normalises it.
"""

from dataclasses import asdict, dataclass, fields, replace
import json
import math
import os

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
import torch
from torch import nn
import torch.nn.functional as F

from .boxes import box_bias
from .errors import ModelLoadError
from .image import CLIP_MEAN, CLIP_STD, fit_geometry, normalise, pad_bottom_right
from .image import resize_8bit, to_rgb, upload_image
from .layers import Transformer
from .tokenizer import TOKENIZER_FILE, VLMTokenizer

CONFIG_FILE = 'config.json'
WEIGHTS_FILE = 'model.safetensors'
MODEL_TYPE = 'vlm_perception'
PATCH_EMBEDDINGS = ('linear', 'conv')
INITIAL_LOGIT_SCALE = 10.0


@dataclass
class VLMConfig:
    """
    Sizes and options of :class:`VLMForDetection`; saved as ``config.json``.

    The defaults are a small model, trainable on a CPU (the shipped one adds
    ``stem_depth=2``, see ``training/recipe.py``); :meth:`reference` gives the sizes of
    the original design.
    """

    image_size: tuple = (240, 320)      # (height, width) frames are resized to fit
    patch_size: int = 16
    patch_embedding: str = 'conv'       # 'linear' | 'conv'
    stem_depth: int = 0                 # 'conv': extra 3x3 convs after each downsampling
    vision_dim: int = 128
    vision_depth: int = 4
    vision_heads: int = 4
    vision_mlp_dim: int = 512
    vocab_size: int = 0                 # 0: the size of the tokenizer given to the model
    max_text_length: int = 16           # tokens, including [CLS] and [EOS]
    text_dim: int = 128
    text_depth: int = 2
    text_heads: int = 4
    text_mlp_dim: int = 512
    projection_dim: int = 128           # D_v = D_t: pooled image and query embeddings
    fusion_dim: int = 128               # D_f
    fusion_depth: int = 2
    fusion_heads: int = 4
    fusion_mlp_dim: int = 512
    dropout: float = 0.0
    image_mean: tuple = CLIP_MEAN
    image_std: tuple = CLIP_STD
    score_threshold: float = None       # recommended by training; load_model's default

    def __post_init__(self):
        """Check the options that would otherwise fail deep inside a forward pass."""
        self.image_size = tuple(int(v) for v in self.image_size)
        self.image_mean = tuple(float(v) for v in self.image_mean)
        self.image_std = tuple(float(v) for v in self.image_std)
        if self.patch_embedding not in PATCH_EMBEDDINGS:
            raise ValueError(f'patch_embedding must be one of {PATCH_EMBEDDINGS}')
        if self.patch_embedding == 'conv' and not (
                self.patch_size >= 4 and math.log2(self.patch_size // 4).is_integer()
                and self.patch_size % 4 == 0):
            raise ValueError('the conv patch embedding needs patch_size = 4 * 2**k')
        if len(self.image_size) != 2 or any(v % self.patch_size for v in self.image_size):
            raise ValueError('image_size must be (height, width), multiples of patch_size')

    @classmethod
    def reference(cls, **overrides):
        """Return the original design's sizes: ViT-B/16 at 224 px, text 512x6, fusion 1024x2."""
        sizes = {'image_size': (224, 224), 'patch_size': 16, 'patch_embedding': 'linear',
                 'vision_dim': 768, 'vision_depth': 12, 'vision_heads': 12,
                 'vision_mlp_dim': 3072, 'text_dim': 512, 'text_depth': 6, 'text_heads': 8,
                 'text_mlp_dim': 2048, 'projection_dim': 512, 'fusion_dim': 1024,
                 'fusion_depth': 2, 'fusion_heads': 16, 'fusion_mlp_dim': 4096}
        sizes.update(overrides)
        return cls(**sizes)

    @classmethod
    def tiny(cls, **overrides):
        """Return a minimal model (dim 32, one layer each) for fast tests of code around it."""
        sizes = {'image_size': (64, 96), 'vision_dim': 32, 'vision_depth': 1, 'vision_heads': 2,
                 'vision_mlp_dim': 64, 'text_dim': 32, 'text_depth': 1, 'text_heads': 2,
                 'text_mlp_dim': 64, 'projection_dim': 32, 'fusion_dim': 32, 'fusion_depth': 1,
                 'fusion_heads': 2, 'fusion_mlp_dim': 64}
        sizes.update(overrides)
        return cls(**sizes)

    def to_dict(self):
        """Return a JSON-ready dict, tagged with the model type and backend."""
        data = asdict(self)
        data.update(image_size=list(self.image_size), image_mean=list(self.image_mean),
                    image_std=list(self.image_std))
        return {'model_type': MODEL_TYPE, 'backend': 'native', **data}

    @classmethod
    def from_dict(cls, data):
        """Build from :meth:`to_dict` output; unknown keys are an error."""
        known = {field.name for field in fields(cls)}
        extra = set(data) - known - {'model_type', 'backend'}
        if extra:
            raise ValueError(f'unknown config keys {sorted(extra)}')
        return cls(**{key: value for key, value in data.items() if key in known})


@dataclass
class VLMDetectionOutput:
    """
    Output of :meth:`VLMForDetection.forward`.

    logits (B, P, Q) pre-sigmoid; pred_boxes (B, P, 4) cx, cy, w, h normalised to the input;
    image_embeds (B, D_v) L2-normalised; fused (B, Q, D_f); grid (grid_h, grid_w), P = its
    product, patches in row-major order.
    """

    logits: torch.Tensor
    pred_boxes: torch.Tensor
    image_embeds: torch.Tensor
    fused: torch.Tensor
    grid: tuple


class PatchEmbedding(nn.Module):
    """(B, 3, H, W) -> (B, H/p * W/p, dim) tokens and the (H/p, W/p) grid."""

    def __init__(self, config):
        super().__init__()
        p, dim = config.patch_size, config.vision_dim
        self.patch_size = p
        if config.patch_embedding == 'linear':
            self.proj = nn.Linear(3 * p * p, dim)
            self.stem = None
        else:
            width = max(dim // 2, 16)
            layers = [nn.Conv2d(3, width, 4, stride=4), nn.GELU()]
            for index in range(int(math.log2(p // 4))):
                last = index == int(math.log2(p // 4)) - 1
                layers += [nn.Conv2d(width, dim if last else width, 3, stride=2, padding=1)]
                layers += [] if last else [nn.GELU()]
                layers += self._refine(dim if last else width, config.stem_depth, last)
            if p == 4:
                refine = self._refine(dim, config.stem_depth, True)
                layers = [nn.Conv2d(3, dim, 4, stride=4)] + refine
            self.stem = nn.Sequential(*layers)

    @staticmethod
    def _refine(channels, depth, last):
        """
        Return ``depth`` stride-1 3x3 convolutions for the 'conv' stem (none when 0).

        Each one widens the receptive field by two steps of the grid it runs on, so a
        token sees a whole small object's outline; GELU between convolutions, none after
        the stem's last.
        """
        layers = []
        for _ in range(depth):
            conv = nn.Conv2d(channels, channels, 3, padding=1)
            layers += [nn.GELU(), conv] if last else [conv, nn.GELU()]
        return layers

    def forward(self, pixel_values):
        """Embed patches; H and W must be multiples of the patch size."""
        batch, channels, height, width = pixel_values.shape
        p = self.patch_size
        if height % p or width % p:
            raise ValueError(f'input {height}x{width} is not a multiple of patch size {p}')
        grid = (height // p, width // p)
        if self.stem is None:
            patches = pixel_values.view(batch, channels, grid[0], p, grid[1], p)
            patches = patches.permute(0, 2, 4, 1, 3, 5).reshape(batch, grid[0] * grid[1], -1)
            return self.proj(patches), grid
        return self.stem(pixel_values).flatten(2).transpose(1, 2), grid


class VisionTransformer(nn.Module):
    """ViT: patches + CLS + interpolated positions -> (B, 1 + P, vision_dim), normed."""

    def __init__(self, config):
        super().__init__()
        dim = config.vision_dim
        self.base_grid = (config.image_size[0] // config.patch_size,
                          config.image_size[1] // config.patch_size)
        self.patch_embed = PatchEmbedding(config)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        num_patches = self.base_grid[0] * self.base_grid[1]
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + num_patches, dim))
        self.transformer = Transformer(dim, config.vision_depth, config.vision_heads,
                                       config.vision_mlp_dim, config.dropout)

    def positions(self, grid):
        """Positional embeddings (1, 1 + grid_h * grid_w, D), bicubic for other grids."""
        if tuple(grid) == self.base_grid:
            return self.pos_embed
        cls_pos, patch_pos = self.pos_embed[:, :1], self.pos_embed[:, 1:]
        patch_pos = patch_pos.reshape(1, *self.base_grid, -1).permute(0, 3, 1, 2)
        patch_pos = F.interpolate(patch_pos.float(), size=tuple(grid), mode='bicubic',
                                  align_corners=False).to(cls_pos.dtype)
        return torch.cat((cls_pos, patch_pos.flatten(2).transpose(1, 2)), dim=1)

    def forward(self, pixel_values):
        """Encode (B, 3, H, W); returns tokens (B, 1 + P, D) and the patch grid."""
        tokens, grid = self.patch_embed(pixel_values)
        tokens = torch.cat((self.cls_token.expand(tokens.shape[0], -1, -1), tokens), dim=1)
        return self.transformer(tokens + self.positions(grid)), grid


class TextTransformer(nn.Module):
    """Token + position embeddings and pre-norm layers; returns the [CLS] output (N, D)."""

    def __init__(self, config):
        super().__init__()
        self.token_embed = nn.Embedding(config.vocab_size, config.text_dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, config.max_text_length, config.text_dim))
        self.transformer = Transformer(config.text_dim, config.text_depth, config.text_heads,
                                       config.text_mlp_dim, config.dropout)

    def forward(self, input_ids, attention_mask):
        """input_ids, attention_mask (N, L) int, L <= max_text_length -> (N, text_dim)."""
        length = input_ids.shape[1]
        x = self.token_embed(input_ids) + self.pos_embed[:, :length]
        key_mask = attention_mask.bool()[:, None, None, :]  # (N, 1, 1, L): True = real token
        return self.transformer(x, key_mask)[:, 0]


class VLMForDetection(nn.Module):
    """
    Open-vocabulary detector (see the module docstring for the architecture).

    ``VLMForDetection(config, tokenizer=None)``: without a tokenizer the default word-level
    vocabulary is used; ``config.vocab_size`` 0 takes the tokenizer's size.
    """

    def __init__(self, config=None, tokenizer=None):
        super().__init__()
        # A copy, so filling in vocab_size never changes the caller's config.
        config = VLMConfig() if config is None else replace(config)
        self.tokenizer = tokenizer or VLMTokenizer.default(config.max_text_length)
        if config.vocab_size == 0:
            config.vocab_size = len(self.tokenizer)
        if len(self.tokenizer) > config.vocab_size:
            raise ValueError(f'tokenizer has {len(self.tokenizer)} tokens, config.vocab_size '
                             f'is {config.vocab_size}')
        if self.tokenizer.max_length > config.max_text_length:
            raise ValueError('tokenizer.max_length exceeds config.max_text_length')
        self.config = config
        fusion_dim = config.fusion_dim
        self.vision = VisionTransformer(config)
        self.text = TextTransformer(config)
        self.image_projection = nn.Linear(config.vision_dim, config.projection_dim, bias=False)
        self.text_projection = nn.Linear(config.text_dim, config.projection_dim, bias=False)
        self.fusion_image_in = nn.Linear(config.vision_dim, fusion_dim)
        self.fusion_query_in = nn.Linear(config.projection_dim, fusion_dim)
        self.modality_embed = nn.Parameter(torch.zeros(2, fusion_dim))
        self.fusion = Transformer(fusion_dim, config.fusion_depth, config.fusion_heads,
                                  config.fusion_mlp_dim, config.dropout)
        self.class_embed = nn.Linear(fusion_dim, fusion_dim)
        self.logit_shift = nn.Linear(fusion_dim, 1)
        self.logit_scale = nn.Linear(fusion_dim, 1)
        self.box_head = nn.Sequential(
            nn.Linear(fusion_dim, fusion_dim), nn.GELU(),
            nn.Linear(fusion_dim, fusion_dim), nn.GELU(),
            nn.Linear(fusion_dim, 4))
        self._box_bias = {}
        self.reset_parameters()

    def reset_parameters(self):
        """Initialise: truncated normal 0.02 weights, zero biases, heads at a sane start."""
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Conv2d)):
                if isinstance(module, nn.Conv2d):
                    # He init: at std 0.02 the conv stem shrinks the image ~10x per layer, so
                    # tokens start as almost pure position and the stem barely learns.
                    nn.init.kaiming_normal_(module.weight, nonlinearity='relu')
                else:
                    nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.trunc_normal_(module.weight, std=0.02)
        for parameter in (self.vision.cls_token, self.vision.pos_embed, self.text.pos_embed,
                          self.modality_embed):
            nn.init.trunc_normal_(parameter, std=0.02)
        # Boxes start as the patch's own box; scores start at a low prior (focal-loss style).
        # The logit scale starts at 10 (CLIP-like): at 1, logits span only cos in [-1, 1],
        # queries barely differ, and training from scratch learns objectness but not text.
        nn.init.zeros_(self.box_head[-1].weight)
        nn.init.constant_(self.logit_scale.bias, INITIAL_LOGIT_SCALE - 1.0)  # elu(x) + 1 = 10
        nn.init.constant_(self.logit_shift.bias, math.log(0.01 / 0.99) / INITIAL_LOGIT_SCALE)

    @property
    def device(self):
        """Return the device of the parameters."""
        return self.vision.pos_embed.device

    @property
    def dtype(self):
        """Return the floating dtype of the parameters."""
        return self.vision.pos_embed.dtype

    def encode_text(self, input_ids, attention_mask):
        """Query embeddings: (N, L) ids and mask -> (N, D_t) L2-normalised."""
        input_ids = input_ids.to(self.device)
        attention_mask = attention_mask.to(self.device)
        pooled = self.text(input_ids, attention_mask)
        return F.normalize(self.text_projection(pooled), dim=-1)

    def encode_image(self, pixel_values):
        """Image tokens (B, 1 + P, vision_dim), pooled embedding (B, D_v), grid."""
        tokens, grid = self.vision(pixel_values)
        return tokens, F.normalize(self.image_projection(tokens[:, 0]), dim=-1), grid

    def box_bias(self, grid, device, dtype):
        """Box bias (P, 4) for a patch grid, computed once per grid, device and dtype."""
        key = (tuple(grid), str(device), dtype)
        if key not in self._box_bias:
            self._box_bias[key] = box_bias(*grid, 0.5, device).to(dtype)
        return self._box_bias[key]

    def forward(self, pixel_values, text_embeds, query_mask=None):
        """
        Detect every query in every image.

        pixel_values (B, 3, H, W) normalised (see :meth:`preprocess`), H and W multiples
        of patch_size; text_embeds (B, Q, D_t) from :meth:`encode_text`; query_mask (B, Q)
        bool, True = real query (None: all real). Returns :class:`VLMDetectionOutput`;
        logits of padded queries are the dtype's most negative value.
        """
        tokens, image_embeds, grid = self.encode_image(pixel_values)
        batch, num_image = tokens.shape[0], tokens.shape[1]
        num_queries = text_embeds.shape[1]
        if query_mask is None:
            query_mask = torch.ones(batch, num_queries, dtype=torch.bool, device=tokens.device)
        query_mask = query_mask.to(device=tokens.device, dtype=torch.bool)
        image_in = self.fusion_image_in(tokens) + self.modality_embed[0]
        query_in = self.fusion_query_in(text_embeds.to(tokens.dtype)) + self.modality_embed[1]
        allowed = torch.zeros(batch, 1, num_image + num_queries, num_image + num_queries,
                              dtype=torch.bool, device=tokens.device)
        allowed[..., :num_image] = True
        # Each query sees itself: built by comparison, as torch.eye(dtype=bool) exports to
        # an ONNX EyeLike on booleans that ONNX Runtime cannot run.
        positions = torch.arange(num_queries, device=tokens.device)
        eye = positions[:, None] == positions[None, :]
        allowed[:, 0, num_image:, num_image:] = eye & query_mask[:, None, :]
        fused = self.fusion(torch.cat((image_in, query_in), dim=1), allowed)
        patches, queries = fused[:, 1:num_image], fused[:, num_image:]

        class_embeds = F.normalize(self.class_embed(patches), dim=-1)
        logits = torch.einsum('bpd,bqd->bpq', class_embeds, F.normalize(queries, dim=-1))
        logits = (logits + self.logit_shift(patches)) * (F.elu(self.logit_scale(patches)) + 1)
        logits = logits.masked_fill(~query_mask[:, None, :], torch.finfo(logits.dtype).min)
        boxes = self.box_head(patches) + self.box_bias(grid, patches.device, patches.dtype)
        return VLMDetectionOutput(logits=logits, pred_boxes=boxes.sigmoid(),
                                  image_embeds=image_embeds, fused=queries, grid=grid)

    def input_geometry(self, height, width):
        """Return the :class:`InputGeometry` of a height x width frame in this model's input."""
        return fit_geometry(height, width, *self.config.image_size, self.config.patch_size)

    def preprocess_tensor(self, image, channel_order='rgb'):
        """
        Preprocess an uploaded uint8 (H, W, C) tensor: (1, 3, H', W') pixels, InputGeometry.

        Runs on the tensor's device: resize to fit image_size (aspect kept, bilinear,
        anti-aliased, as an 8-bit image), normalise, zero-pad (the mean colour) to a
        multiple of patch_size.
        """
        geometry = self.input_geometry(image.shape[0], image.shape[1])
        pixels = resize_8bit(to_rgb(image, channel_order),
                             round(geometry.image_height * geometry.scale_y),
                             round(geometry.image_width * geometry.scale_x))
        pixels = normalise(pixels, self.config.image_mean, self.config.image_std, self.dtype)
        return pad_bottom_right(pixels, geometry.input_height, geometry.input_width), geometry

    def preprocess(self, images, channel_order='rgb'):
        """
        Turn uint8 numpy image(s) into normalised pixel values on the model's device.

        images: one (H, W, 3) / (H, W) uint8 array, or a list of them that fit the same
        input size. Returns (B, 3, H', W') in the model's dtype. Use :meth:`input_geometry`
        to map boxes between the image and the input.
        """
        if not isinstance(images, (list, tuple)):
            images = [images]
        batch = [self.preprocess_tensor(upload_image(image, self.device), channel_order)[0]
                 for image in images]
        if len({tuple(pixels.shape) for pixels in batch}) > 1:
            raise ValueError('images of one batch must fit the same input size')
        return torch.cat(batch, dim=0)

    def tokenize(self, texts):
        """Tokenize a list of strings with this model's tokenizer (see VLMTokenizer)."""
        return self.tokenizer(texts)

    def save_pretrained(self, directory):
        """Write config.json, model.safetensors and tokenizer.json into ``directory``."""
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, CONFIG_FILE), 'w', encoding='utf-8') as stream:
            json.dump(self.config.to_dict(), stream, indent=2)
        state = {name: tensor.detach().contiguous().cpu()
                 for name, tensor in self.state_dict().items()}
        save_file(state, os.path.join(directory, WEIGHTS_FILE), metadata={'format': 'pt'})
        self.tokenizer.save_pretrained(directory)

    @classmethod
    def from_pretrained(cls, directory, device='cpu'):
        """
        Load a folder written by :meth:`save_pretrained`, in eval mode, on ``device``.

        Raises ModelLoadError naming the path when a file is missing or unreadable.
        """
        directory = os.fspath(directory)
        if not os.path.isdir(directory):
            raise ModelLoadError(f'model folder not found: {directory}')
        paths = {name: os.path.join(directory, name)
                 for name in (CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE)}
        for path in paths.values():
            if not os.path.isfile(path):
                raise ModelLoadError(f'missing model file: {path}')
        try:
            with open(paths[CONFIG_FILE], encoding='utf-8') as stream:
                config = VLMConfig.from_dict(json.load(stream))
        except (ValueError, TypeError) as error:
            raise ModelLoadError(f'bad model config {paths[CONFIG_FILE]}: {error}') from None
        try:
            tokenizer = VLMTokenizer.from_pretrained(directory)
        except (ValueError, TypeError, KeyError) as error:
            raise ModelLoadError(f'bad tokenizer file {paths[TOKENIZER_FILE]}: {error}') from None
        try:
            model = cls(config, tokenizer)
        except ValueError as error:
            raise ModelLoadError(f'bad model config {paths[CONFIG_FILE]}: {error}') from None
        try:
            state = load_file(paths[WEIGHTS_FILE], device=str(device))
        except (SafetensorError, OSError, ValueError) as error:
            raise ModelLoadError(f'corrupt weights file {paths[WEIGHTS_FILE]}: {error}') from None
        try:
            model.load_state_dict(state)
        except RuntimeError as error:
            first = str(error).strip().splitlines()[0]
            raise ModelLoadError(f'weights in {paths[WEIGHTS_FILE]} do not fit the config '
                                 f'{paths[CONFIG_FILE]}: {first}') from None
        return model.to(device).eval()
