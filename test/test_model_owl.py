# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
Tests of the OWL-ViT and OWLv2 backends against transformers' own pipeline.

Tiny random models are built and saved locally (no hub), then loaded through load_model
exactly as users do, and compared with transformers' processor, model forward and
post_process_object_detection on the same image, weights and queries.
"""

import os
import re

import numpy as np
import pytest
import torch

from vlm_perception.model import load_model, ModelLoadError
from vlm_perception.model.random_models import build_random_owl

transformers = pytest.importorskip('transformers')
HF_CLASSES = {'owlvit': 'OwlViTForObjectDetection', 'owlv2': 'Owlv2ForObjectDetection'}
QUERIES = ['red cup', 'tennis ball', 'a green block']


@pytest.fixture(scope='module', params=['owlvit', 'owlv2'])
def owl(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    build_random_owl(folder, request.param, 'tiny', seed=1)
    return request.param, folder


def picture(height, width):
    """Return a structured picture: gradients and two solid rectangles."""
    y, x = np.mgrid[0:height, 0:width]
    image = np.stack([x * 255 // (width - 1), y * 255 // (height - 1), (x + y) % 64 * 4],
                     axis=-1).astype(np.uint8)
    image[height // 4:height // 2, width // 5:width // 2] = (220, 30, 40)
    image[height // 2:height - 5, width // 2:width - 8] = (20, 200, 60)
    return image


def transformers_reference(folder, kind, image, queries):
    """Run transformers' documented path; returns (post-processed result, model outputs)."""
    processor = transformers.AutoProcessor.from_pretrained(folder)
    model = getattr(transformers, HF_CLASSES[kind]).from_pretrained(folder).eval()
    inputs = processor(text=[queries], images=image, return_tensors='pt')
    with torch.no_grad():
        outputs = model(**inputs)
    height, width = image.shape[:2]
    result = processor.image_processor.post_process_object_detection(
        outputs, threshold=0.0, target_sizes=[(height, width)])[0]
    return result, outputs, model, inputs


@pytest.mark.parametrize('height, width, gray', [(70, 110, False), (200, 300, True)])
def test_same_boxes_and_scores_as_transformers(owl, height, width, gray):
    kind, folder = owl
    image = picture(height, width)
    if gray:
        image = image[:, :, 1]
    det = load_model(folder, score_threshold=0.0, nms_iou=1.0, max_detections=10_000)
    assert det.backend == kind
    ours = det.infer(image, QUERIES)
    rgb = np.stack([image] * 3, axis=-1) if gray else image
    theirs, outputs, model, _ = transformers_reference(folder, kind, rgb, QUERIES)
    # Every patch is a detection here: compare as sets matched by (label, box).
    assert len(ours.scores) == len(theirs['scores']) == outputs.logits.shape[1]
    their_boxes = theirs['boxes'].clone()
    their_boxes[:, 0::2] = their_boxes[:, 0::2].clamp(0, width)   # ours are clipped
    their_boxes[:, 1::2] = their_boxes[:, 1::2].clamp(0, height)
    their_boxes = their_boxes.numpy()
    for box, score, label in zip(ours.boxes, ours.scores, ours.query_indices):
        distance = np.abs(their_boxes - box).max(axis=1) + 1e3 * (theirs['labels'].numpy()
                                                                  != label)
        match = int(np.argmin(distance))
        assert distance[match] < 0.5, 'a box differs from transformers'
        assert abs(theirs['scores'][match].item() - score) < 2e-3
    np.testing.assert_allclose(ours.text_features, outputs.text_embeds[0].numpy(), atol=1e-5)
    pooled = model.owlvit if kind == 'owlvit' else model.owlv2
    with torch.no_grad():
        image_embed = pooled.visual_projection(outputs.vision_model_output.pooler_output)
    image_embed = torch.nn.functional.normalize(image_embed, dim=-1)[0].numpy()
    assert float(image_embed @ ours.vision_features) > 0.999


def test_default_post_processing_keeps_transformers_top_detections(owl):
    kind, folder = owl
    image = picture(120, 160)
    det = load_model(folder, score_threshold=0.3, nms_iou=1.0)
    ours = det.infer(image, QUERIES)
    theirs, _, _, _ = transformers_reference(folder, kind, image, QUERIES)
    expected = np.sort(theirs['scores'][theirs['scores'] > 0.3].numpy())[::-1]
    assert len(ours.scores) == len(expected) > 0
    np.testing.assert_allclose(ours.scores, expected, atol=2e-3)


def test_result_shapes_and_dtypes(owl):
    kind, folder = owl
    det = load_model(folder, score_threshold=0.0)
    config = transformers.AutoConfig.from_pretrained(folder)
    assert (det.vision_dim, det.text_dim) == (config.projection_dim, config.projection_dim)
    assert det.fused_dim == config.text_config.hidden_size
    result = det.infer(picture(50, 80), ['cup', 'ball'], channel_order='bgr')
    assert result.vision_features.shape == (det.vision_dim,)
    assert result.text_features.shape == (2, det.text_dim)
    assert result.fused_features.shape == (2, det.fused_dim)
    count = len(result.labels)
    assert result.boxes.shape == (count, 4) and result.scores.shape == (count,)
    for array in (result.vision_features, result.text_features, result.fused_features,
                  result.boxes, result.scores):
        assert array.dtype == np.float32
    assert np.allclose(np.linalg.norm(result.fused_features, axis=1), 1.0, atol=1e-5)
    assert np.all(result.boxes[:, 2] <= 80) and np.all(result.boxes[:, 3] <= 50)


def test_text_cache_and_int8(owl):
    kind, folder = owl
    det = load_model(folder, score_threshold=0.0, nms_iou=1.0)
    image = picture(64, 64)
    reference = det.infer(image, ['cup', 'ball'])
    det.infer(image, ['ball'])
    assert (det.text_cache.misses, det.text_cache.hits) == (2, 1)
    quantised = load_model(folder, precision='int8', score_threshold=0.0, nms_iou=1.0)
    result = quantised.infer(image, ['cup', 'ball'])
    assert float(result.vision_features @ reference.vision_features) > 0.99
    np.testing.assert_allclose(result.text_features, reference.text_features, atol=1e-6)


def test_load_errors_name_the_path(owl, tmp_path):
    kind, folder = owl
    other = 'owlv2' if kind == 'owlvit' else 'owlvit'
    with pytest.raises(ModelLoadError, match=f'is a {kind} model, not {other}'):
        load_model(folder, backend=other)
    broken = tmp_path / 'broken'
    broken.mkdir()
    for name in os.listdir(folder):
        (broken / name).write_bytes((folder / name).read_bytes())
    weights = broken / 'model.safetensors'
    weights.write_bytes(weights.read_bytes()[:200])
    with pytest.raises(ModelLoadError, match=re.escape(str(broken))):
        load_model(broken)
    os.remove(weights)
    with pytest.raises(ModelLoadError, match=re.escape(str(broken))):
        load_model(broken)


def test_an_unreachable_hub_id_is_a_load_error(monkeypatch):
    import huggingface_hub.constants
    monkeypatch.setattr(huggingface_hub.constants, 'HF_HUB_OFFLINE', True)
    with pytest.raises(ModelLoadError, match='google/owlvit-nonexistent-test'):
        load_model('google/owlvit-nonexistent-test')
