# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
One inference interface for every backend: :class:`Detector` and :func:`load_model`.

A backend (native, OWL-ViT, OWLv2) supplies four steps on its device: ``encode_text``,
``prepare`` (uint8 image -> pixel values + geometry), ``run`` (pixel values + query
embeddings -> per-patch logits and boxes, pooled and fused features) and its sizes. The
Detector adds what every backend shares: a bounded LRU cache of query embeddings, the
post-processing (per-patch best query, score threshold, per-label NMS, maximum count, all
on the device without loops over boxes), timings, and a single device-to-host copy of the
small final results.
"""

from collections import OrderedDict
from dataclasses import dataclass, field
import json
import logging
import os
import time
import warnings

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from .boxes import batched_nms
from .errors import ModelLoadError
from .hub import hub_access
from .image import upload_image
from .native import CONFIG_FILE, MODEL_TYPE, VLMForDetection

logger = logging.getLogger('vlm_perception.model')

DEFAULT_MODEL_PATH = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'weights', 'tabletop')
BACKENDS = ('native', 'owlvit', 'owlv2')
PRECISIONS = {'fp32': torch.float32, 'fp16': torch.float16, 'bf16': torch.bfloat16,
              'int8': torch.float32}
DEFAULT_SCORE_THRESHOLD = 0.1


@dataclass
class DetectionResult:
    """
    What one frame gave (numpy, on the host).

    vision_features (D_v,) float32 L2-normalised pooled image embedding;
    text_features (Q, D_t) float32, one L2-normalised row per query;
    fused_features (Q, D_f) float32, one L2-normalised row per query (what it holds is
    backend-specific, see NativeBackend and OwlBackend);
    labels list of N query strings; query_indices (N,) int64 into the queries;
    boxes (N, 4) float32 x_min, y_min, x_max, y_max in input-image pixels;
    scores (N,) float32 in [0, 1], descending; timings seconds per stage
    ('preprocess', 'text', 'forward', 'postprocess').
    """

    vision_features: np.ndarray
    text_features: np.ndarray
    fused_features: np.ndarray
    labels: list
    query_indices: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    timings: dict = field(default_factory=dict)


class TextEmbeddingCache:
    """
    Bounded LRU cache of query embeddings keyed by the query text.

    ``lookup(texts, encode)`` returns (Q, D) rows for ``texts``, calling ``encode`` once on
    the texts it has not seen (in one batch). ``hits`` and ``misses`` count texts; capacity
    0 disables caching.
    """

    def __init__(self, capacity=256):
        self.capacity = int(capacity)
        self.hits = 0
        self.misses = 0
        self._rows = OrderedDict()

    def __len__(self):
        return len(self._rows)

    def clear(self):
        """Forget every embedding (the counters are kept)."""
        self._rows.clear()

    def lookup(self, texts, encode):
        """Return the stacked (Q, D) embeddings of ``texts``, encoding only unseen ones."""
        missing = []
        for text in texts:
            if text in self._rows or text in missing:
                self.hits += 1
            else:
                self.misses += 1
                missing.append(text)
        fresh = dict(zip(missing, encode(missing))) if missing else {}
        rows = []
        for text in texts:
            row = fresh.get(text)
            if row is None:
                row = self._rows[text]
                self._rows.move_to_end(text)
            rows.append(row)
        for text, row in fresh.items():
            self._rows[text] = row
        while len(self._rows) > self.capacity:
            self._rows.popitem(last=False)
        return torch.stack(rows)


def resolve_device(device='auto', cuda_available=None):
    """
    Return the torch.device for 'auto', 'cpu' or 'cuda[:N]'.

    'auto' is CUDA when ``cuda_available`` (default: torch.cuda.is_available()), else CPU.
    Asking for CUDA where there is none raises ValueError.
    """
    cuda_available = torch.cuda.is_available() if cuda_available is None else cuda_available
    if device in (None, 'auto'):
        return torch.device('cuda' if cuda_available else 'cpu')
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', not {device!r}") from None
    if chosen.type == 'cuda' and not cuda_available:
        raise ValueError(f'device {device!r} asked for, but CUDA is not available')
    if chosen.type not in ('cpu', 'cuda'):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', not {device!r}")
    return chosen


def resolve_precision(precision, device):
    """
    Return (name, torch dtype of the weights) for a precision on ``device``.

    'auto' is fp16 on CUDA and fp32 on CPU (the CPUs here gain nothing from half
    precision). 'int8' (CPU only) keeps fp32 weights and quantises the image encoder's
    Linear layers dynamically.
    """
    if precision in (None, 'auto'):
        precision = 'fp16' if device.type == 'cuda' else 'fp32'
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be 'auto' or one of {sorted(PRECISIONS)}, "
                         f'not {precision!r}')
    if precision == 'int8' and device.type != 'cpu':
        raise ValueError('int8 precision is for the CPU only')
    return precision, PRECISIONS[precision]


def quantize_linear_layers(module):
    """Return ``module`` with its Linear layers dynamically quantised to int8 (CPU)."""
    from torch.ao.quantization import quantize_dynamic
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # torch.ao.quantization is deprecated, still works
        return quantize_dynamic(module, {nn.Linear}, dtype=torch.qint8)


class NativeImagePath(nn.Module):
    """
    The native model's image path: pixel values (1, 3, H, W) and query embeddings (Q, D_t).

    Out: logits (P, Q), boxes (P, 4) cxcywh, pooled image embedding (D_v,) and the fused
    query tokens (Q, D_f) L2-normalised: the image encoder, the fusion (queries attend to
    the image) and the heads, what an exported runtime replaces.
    """

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixel_values, text_embeds):
        """Run the model on one image and its queries (shapes in the class docstring)."""
        out = self.model(pixel_values, text_embeds[None])
        return (out.logits[0], out.pred_boxes[0], out.image_embeds[0],
                F.normalize(out.fused[0], dim=-1))


class NativeBackend:
    """
    The native model behind the Detector interface.

    fused_features are the fused query tokens (Q, fusion_dim), L2-normalised: each query
    after attending to this image's tokens. int8 quantises the vision and fusion
    transformers. ``image_path`` is a :class:`NativeImagePath` unless an exported
    runtime's stand-in is given.
    """

    name = 'native'

    def __init__(self, model, model_id, device, dtype, quantize=False, image_path=None):
        model = model.to(device=device, dtype=dtype).eval()
        if quantize:
            model.vision = quantize_linear_layers(model.vision)
            model.fusion = quantize_linear_layers(model.fusion)
        self.model = model
        self.image_path = NativeImagePath(model) if image_path is None else image_path
        self.model_id = model_id
        self.device, self.dtype = device, dtype
        self.vision_dim = model.config.projection_dim
        self.text_dim = model.config.projection_dim
        self.fused_dim = model.config.fusion_dim
        self.default_score_threshold = model.config.score_threshold

    @classmethod
    def load(cls, path, device, dtype, quantize=False):
        """Load a native model folder (see VLMForDetection.from_pretrained)."""
        return cls(VLMForDetection.from_pretrained(path), path, device, dtype, quantize)

    def encode_text(self, texts):
        """Return (Q, D_t) query embeddings."""
        return self.model.encode_text(**self.model.tokenize(texts))

    def prepare(self, image, channel_order):
        """Return pixel values (1, 3, H, W) and the InputGeometry for an uploaded image."""
        return self.model.preprocess_tensor(image, channel_order)

    def run(self, pixel_values, text_embeds):
        """Return logits (P, Q), boxes (P, 4) cxcywh, image embed (D_v,), fused (Q, D_f)."""
        return self.image_path(pixel_values, text_embeds)


class Detector:
    """
    Open-vocabulary detection on single frames: ``infer(image, queries)``.

    Created by :func:`load_model`. ``score_threshold`` (keep scores above it), ``nms_iou``
    (per-label NMS; 1 disables it), ``max_detections`` and ``nms_candidates`` (NMS looks at
    this many best patches) are plain attributes that may change between calls. Each patch
    proposes one box labelled with its best-scoring query (as OWL-ViT's own
    post-processing does). With ``exact_timings`` on CUDA each stage is synchronised so the
    timings split correctly; otherwise GPU work shows up in the stage that waits for it.
    """

    def __init__(self, backend, score_threshold=DEFAULT_SCORE_THRESHOLD, nms_iou=0.5,
                 max_detections=100, text_cache_size=256, nms_candidates=300):
        self.backend = backend.name
        self.model_id = backend.model_id
        self.device = backend.device
        self.dtype = backend.dtype
        self.vision_dim = backend.vision_dim
        self.text_dim = backend.text_dim
        self.fused_dim = backend.fused_dim
        self.score_threshold = float(score_threshold)
        self.nms_iou = float(nms_iou)
        self.max_detections = int(max_detections)
        self.nms_candidates = int(nms_candidates)
        self.text_cache = TextEmbeddingCache(text_cache_size)
        self.exact_timings = False
        # Set by load_model: 'torch', 'openvino' or 'onnxruntime', and the precision name.
        self.runtime, self.precision = 'torch', str(self.dtype).replace('torch.', '')
        self._backend = backend

    def _clock(self):
        if self.exact_timings and self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def encode_queries(self, queries):
        """Return (Q, D_t) embeddings of ``queries`` on the device, through the cache."""
        return self.text_cache.lookup(list(queries), self._backend.encode_text)

    @torch.inference_mode()
    def infer(self, image, queries, channel_order='rgb'):
        """
        Detect ``queries`` in ``image``.

        image: uint8 numpy (H, W, 3) in ``channel_order`` ('rgb' or 'bgr') or (H, W)
        grayscale, any strides; never modified. queries: list of at least one string.
        Returns a :class:`DetectionResult`.
        """
        if isinstance(queries, str) or not queries:
            raise ValueError('queries must be a non-empty list of strings')
        queries = [str(query) for query in queries]
        start = self._clock()
        pixel_values, geometry = self._backend.prepare(upload_image(image, self.device),
                                                       channel_order)
        after_preprocess = self._clock()
        text_embeds = self.encode_queries(queries)
        after_text = self._clock()
        logits, boxes, image_embed, fused = self._backend.run(pixel_values, text_embeds)
        after_forward = self._clock()
        result = self._postprocess(logits, boxes, image_embed, text_embeds, fused, geometry,
                                   queries)
        end = time.perf_counter()
        result.timings = {'preprocess': after_preprocess - start,
                          'text': after_text - after_preprocess,
                          'forward': after_forward - after_text,
                          'postprocess': end - after_forward}
        return result

    def _postprocess(self, logits, boxes, image_embed, text_embeds, fused, geometry, queries):
        """Select detections on the device, then copy everything to the host at once."""
        scores, labels = logits.float().sigmoid().max(dim=1)  # (P,): best query per patch
        count = scores.shape[0]
        if self.nms_iou < 1.0:   # NMS compares all pairs: bound its candidates
            count = min(count, max(self.nms_candidates, 1))
        scores, order = scores.topk(count)
        if scores.is_cpu:
            # Reading a count is free on the CPU (on a GPU it would be a sync): drop the
            # boxes under the threshold before NMS compares every pair.
            above = int((scores > self.score_threshold).sum())
            scores, order = scores[:above], order[:above]
        labels = labels[order]
        pixel_boxes = geometry.boxes_to_image(boxes[order].float())
        keep = (scores > self.score_threshold) & batched_nms(
            pixel_boxes, scores, labels, self.nms_iou)
        keep &= keep.cumsum(0) <= self.max_detections
        # Kept detections first, still by score; a fixed-size slice, so no sync to size it.
        first = torch.argsort((~keep).to(torch.int32), stable=True)[:self.max_detections]
        packed = torch.cat((
            keep.sum().float().view(1), scores[first], labels[first].float(),
            pixel_boxes[first].flatten(), image_embed.float().flatten(),
            text_embeds.float().flatten(), fused.float().flatten())).cpu().numpy()
        num_queries, slots = len(queries), first.shape[0]
        sizes = [1, slots, slots, 4 * slots, self.vision_dim, num_queries * self.text_dim,
                 num_queries * self.fused_dim]
        parts = np.split(packed, np.cumsum(sizes)[:-1])
        found = int(parts[0][0])
        query_indices = parts[2][:found].astype(np.int64)
        return DetectionResult(
            vision_features=parts[4],
            text_features=parts[5].reshape(num_queries, self.text_dim),
            fused_features=parts[6].reshape(num_queries, self.fused_dim),
            labels=[queries[index] for index in query_indices],
            query_indices=query_indices,
            boxes=parts[3].reshape(slots, 4)[:found],
            scores=parts[1][:found])


def detect_backend(model, **hub_options):
    """
    Return 'native', 'owlvit' or 'owlv2' for a model folder or hub id.

    A folder's config.json decides; for a hub id transformers reads the config (from the
    hub or its cache; ``hub_options`` go to from_pretrained). Raises ModelLoadError
    naming the model when that fails.
    """
    if os.path.isdir(model):
        path = os.path.join(model, CONFIG_FILE)
        try:
            with open(path, encoding='utf-8') as stream:
                model_type = json.load(stream).get('model_type')
        except FileNotFoundError:
            raise ModelLoadError(f'missing model file: {path}') from None
        except (OSError, ValueError, AttributeError) as error:
            raise ModelLoadError(f'bad model config {path}: {error}') from None
    else:
        from .owl import hub_model_type
        model_type = hub_model_type(model, **hub_options)
    backend = {MODEL_TYPE: 'native', 'owlvit': 'owlvit', 'owlv2': 'owlv2'}.get(model_type)
    if backend is None:
        raise ModelLoadError(f'{model}: unsupported model_type {model_type!r} '
                             f'(supported: native vlm_perception, owlvit, owlv2)')
    return backend


def looks_like_path(model):
    """Return True for strings that name a filesystem path rather than a hub id."""
    return (os.path.isabs(model) or model.startswith(('.', '~')) or os.path.exists(model)
            or model.count('/') > 1 or os.sep != '/' and os.sep in model)


def load_model(model=None, backend='auto', device='auto', precision='auto',
               score_threshold=None, nms_iou=0.5, max_detections=100, text_cache_size=256,
               runtime='auto'):
    """
    Load a model folder or hub id and return a ready :class:`Detector`.

    model: None (DEFAULT_MODEL_PATH, the shipped native model), a folder, or a hub id
    (OWL-ViT/OWLv2; needs the hub or its cache), or a folder written by
    ``vlm-perception export``. backend: 'auto' (from config.json), 'native', 'owlvit' or
    'owlv2'. device: 'auto', 'cpu', 'cuda[:N]'. precision: 'auto' (fp16 on CUDA, fp32 on
    CPU), 'fp32', 'fp16', 'bf16' or 'int8' (CPU); an exported folder runs at the precision
    it was exported in. runtime: 'auto' (the exported folder's runtime, else torch),
    'torch', 'openvino' or 'onnxruntime'; a folder exported for one runtime is refused by
    another. score_threshold None uses the model's recommended threshold when its config
    has one, else 0.1. A hub id loads from the local Hugging Face cache alone when it is
    there, else from the hub if it answers within seconds (see hub.hub_access). Raises
    ModelLoadError (naming the path) when the model cannot be loaded, ValueError for a
    bad option.
    """
    from .runtimes import load_exported, read_export_info, resolve_runtime
    model = DEFAULT_MODEL_PATH if model is None else os.path.expanduser(os.fspath(model))
    if backend != 'auto' and backend not in BACKENDS:
        raise ValueError(f"backend must be 'auto' or one of {BACKENDS}, not {backend!r}")
    if looks_like_path(model) and not os.path.isdir(model):
        hint = ' (train it with `vlm-perception train`)' if model == DEFAULT_MODEL_PATH else ''
        raise ModelLoadError(f'model folder not found: {model}{hint}')
    exported = read_export_info(model) if os.path.isdir(model) else None
    runtime = resolve_runtime(runtime, exported and exported['runtime'], model)
    if exported is not None:
        if backend not in ('auto', exported['backend']):
            raise ModelLoadError(f'{model} holds a {exported["backend"]} model, not {backend}')
        backend = exported['backend']
        engine, precision = load_exported(model, exported, runtime, device, precision)
        torch_device = engine.device
    else:
        torch_device = resolve_device(device)
        precision, dtype = resolve_precision(precision, torch_device)
        hub_options = {} if os.path.isdir(model) else hub_access(model)
        backend = detect_backend(model, **hub_options) if backend == 'auto' else backend
        quantize = precision == 'int8'
        if backend == 'native':
            engine = NativeBackend.load(model, torch_device, dtype, quantize)
        else:
            from .owl import OwlBackend
            engine = OwlBackend.load(model, backend, torch_device, dtype, quantize,
                                     **hub_options)
    if score_threshold is None:
        score_threshold = getattr(engine, 'default_score_threshold', None)
    detector = Detector(engine, DEFAULT_SCORE_THRESHOLD if score_threshold is None
                        else score_threshold, nms_iou, max_detections, text_cache_size)
    detector.runtime, detector.precision = runtime, precision
    why = '' if device not in (None, 'auto') else (
        ' (auto: CUDA available)' if torch_device.type == 'cuda' else ' (auto: no CUDA)')
    detail = getattr(engine, 'runtime_detail', None)
    logger.info('loaded %s model %s on %s%s, precision %s, runtime %s%s', backend, model,
                torch_device, why, precision, runtime, f' ({detail})' if detail else '')
    return detector
