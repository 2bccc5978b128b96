# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests of the Detector interface on the native backend: results, geometry, cache, options."""

import logging
import os
import re

import numpy as np
import pytest
import torch

from vlm_perception.model import DEFAULT_MODEL_PATH, load_model, ModelLoadError
from vlm_perception.model import TextEmbeddingCache, VLMConfig, VLMForDetection
from vlm_perception.model.boxes import batched_nms, box_iou
from vlm_perception.model.detector import resolve_device, resolve_precision
from vlm_perception.model.random_models import build_random_native


@pytest.fixture(scope='module')
def model_dir(tmp_path_factory):
    return build_random_native(tmp_path_factory.mktemp('native'))


def all_patches(model_dir, **options):
    """Load a detector that reports every patch (no threshold, no NMS)."""
    options = {'score_threshold': -1.0, 'nms_iou': 1.0, 'max_detections': 1000, **options}
    return load_model(model_dir, **options)


def scene(height, width, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_result_fields_shapes_and_dtypes(model_dir):
    det = load_model(model_dir, score_threshold=0.0)
    assert det.backend == 'native' and det.model_id == str(model_dir)
    assert det.device == torch.device('cpu') and det.dtype == torch.float32
    result = det.infer(scene(48, 80), ['red circle', 'cup'])
    assert result.vision_features.shape == (det.vision_dim,)
    assert result.text_features.shape == (2, det.text_dim)
    assert result.fused_features.shape == (2, det.fused_dim)
    count = len(result.labels)
    assert count > 0
    assert result.boxes.shape == (count, 4) and result.scores.shape == (count,)
    assert result.query_indices.shape == (count,) and result.query_indices.dtype == np.int64
    for array in (result.vision_features, result.text_features, result.fused_features,
                  result.boxes, result.scores):
        assert array.dtype == np.float32
    assert np.allclose(np.linalg.norm(result.vision_features), 1.0, atol=1e-5)
    assert np.allclose(np.linalg.norm(result.text_features, axis=1), 1.0, atol=1e-5)
    assert np.allclose(np.linalg.norm(result.fused_features, axis=1), 1.0, atol=1e-5)
    assert result.labels == [['red circle', 'cup'][i] for i in result.query_indices]
    assert np.all(np.diff(result.scores) <= 0)
    assert np.all((result.scores > 0) & (result.scores <= 1))
    assert set(result.timings) == {'preprocess', 'text', 'forward', 'postprocess'}
    assert all(value >= 0 for value in result.timings.values())


def expected_patch_boxes(height, width, input_h, input_w, resized_h, resized_w):
    """Pixel boxes of every 16-px input patch, mapped back and clipped (untrained boxes)."""
    boxes = []
    for row in range(input_h // 16):
        for col in range(input_w // 16):
            x0, x1 = col * 16 * width / resized_w, (col + 1) * 16 * width / resized_w
            y0, y1 = row * 16 * height / resized_h, (row + 1) * 16 * height / resized_h
            boxes.append([min(x0, width), min(y0, height), min(x1, width), min(y1, height)])
    return np.array(sorted(boxes))


@pytest.mark.parametrize('height, width, gray', [(100, 400, False), (90, 60, True),
                                                 (128, 192, False)])
def test_boxes_map_back_to_image_pixels(model_dir, height, width, gray):
    # An untrained box head outputs zero, so every patch's box is exactly its own cell of
    # the input grid: the boxes must be those cells in original pixels, clipped.
    det = all_patches(model_dir)
    image = scene(height, width)
    image = image[:, :, 0] if gray else image
    result = det.infer(image, ['cup'])
    geometry = VLMForDetection.from_pretrained(model_dir).input_geometry(height, width)
    resized_h = round(height * geometry.scale_y)
    resized_w = round(width * geometry.scale_x)
    expected = expected_patch_boxes(height, width, geometry.input_height, geometry.input_width,
                                    resized_h, resized_w)
    got = np.array(sorted(result.boxes.tolist()))
    np.testing.assert_allclose(got, expected, atol=0.05)


def test_bgr_grayscale_and_strided_views_are_read_correctly(model_dir):
    det = all_patches(model_dir)
    rgb = scene(60, 90)
    reference = det.infer(rgb, ['cup'])
    bgr = det.infer(np.ascontiguousarray(rgb[:, :, ::-1]), ['cup'], channel_order='bgr')
    np.testing.assert_allclose(bgr.scores, reference.scores, atol=1e-6)
    # A view into a wider buffer (row padding), which must not be modified.
    padded = np.zeros((60, 100, 3), np.uint8)
    padded[:, :90] = rgb
    before = padded.copy()
    view = det.infer(padded[:, :90], ['cup'])
    np.testing.assert_allclose(view.scores, reference.scores, atol=1e-6)
    assert np.array_equal(padded, before)
    flipped = det.infer(rgb[::-1, ::-1], ['cup'])   # negative strides
    assert flipped.scores.shape == reference.scores.shape
    gray = rgb[:, :, 1]
    np.testing.assert_allclose(det.infer(gray, ['cup']).scores,
                               det.infer(np.stack([gray] * 3, -1), ['cup']).scores, atol=1e-6)


def test_bad_inputs_are_rejected(model_dir):
    det = load_model(model_dir)
    with pytest.raises(ValueError, match='uint8'):
        det.infer(scene(20, 20).astype(np.float32), ['cup'])
    with pytest.raises(ValueError, match='HxWx3'):
        det.infer(np.zeros((20, 20, 4), np.uint8), ['cup'])
    with pytest.raises(ValueError, match='queries'):
        det.infer(scene(20, 20), [])
    with pytest.raises(ValueError, match='queries'):
        det.infer(scene(20, 20), 'cup')
    with pytest.raises(ValueError, match='channel_order'):
        det.infer(scene(20, 20), ['cup'], channel_order='hsv')


def test_post_processing_options_apply_at_run_time(model_dir):
    det = all_patches(model_dir)
    image = scene(64, 96)
    everything = det.infer(image, ['red circle', 'cup'])
    assert len(everything.scores) == 24   # one box per patch of the 4x6 grid
    det.max_detections = 5
    assert len(det.infer(image, ['red circle', 'cup']).scores) == 5
    det.max_detections = 1000
    det.score_threshold = float(np.median(everything.scores))
    above = det.infer(image, ['red circle', 'cup'])
    assert 0 < len(above.scores) < 24 and np.all(above.scores > det.score_threshold)
    det.score_threshold, det.nms_iou = -1.0, 0.0   # any overlap suppresses
    suppressed = det.infer(image, ['red circle', 'cup'])
    for label in set(suppressed.labels):
        boxes = torch.from_numpy(suppressed.boxes[[lab == label for lab in suppressed.labels]])
        iou = box_iou(boxes, boxes).fill_diagonal_(0)
        assert (iou <= 0).all()


def greedy_nms_reference(boxes, scores, labels, threshold):
    keep = []
    for index in np.argsort(-scores, kind='stable'):
        if all(labels[k] != labels[index]
               or box_iou(boxes[[k]], boxes[[index]]).item() <= threshold for k in keep):
            keep.append(index)
    return sorted(keep)


@pytest.mark.parametrize('seed', range(5))
def test_batched_nms_equals_greedy_nms(seed):
    generator = torch.Generator().manual_seed(seed)
    corners = torch.rand(60, 2, generator=generator) * 80
    sizes = torch.rand(60, 2, generator=generator) * 30 + 5
    boxes = torch.cat((corners, corners + sizes), dim=1)
    scores = torch.rand(60, generator=generator)
    labels = torch.randint(0, 3, (60,), generator=generator)
    keep = batched_nms(boxes, scores, labels, 0.3)
    assert torch.nonzero(keep).flatten().tolist() == greedy_nms_reference(
        boxes, scores.numpy(), labels, 0.3)
    assert batched_nms(boxes, scores, labels, 1.0).all()


def test_text_cache_encodes_a_repeated_query_once(model_dir):
    det = load_model(model_dir, text_cache_size=8)
    image = scene(48, 64)
    first = det.infer(image, ['red circle', 'cup'])
    assert (det.text_cache.hits, det.text_cache.misses) == (0, 2)
    second = det.infer(image, ['cup', 'red circle'])
    assert (det.text_cache.hits, det.text_cache.misses) == (2, 2)
    np.testing.assert_array_equal(second.text_features, first.text_features[::-1])


def test_text_cache_is_a_bounded_lru():
    calls = []

    def encode(texts):
        calls.append(list(texts))
        return torch.arange(len(texts), dtype=torch.float32)[:, None] + len(calls) * 10

    cache = TextEmbeddingCache(capacity=2)
    cache.lookup(['a', 'b', 'a'], encode)
    assert calls == [['a', 'b']] and (cache.hits, cache.misses) == (1, 2)
    cache.lookup(['a'], encode)          # 'a' is now the most recently used
    cache.lookup(['c'], encode)          # evicts 'b'
    assert len(cache) == 2
    cache.lookup(['a', 'b'], encode)
    assert calls[-1] == ['b']
    assert TextEmbeddingCache(capacity=0).lookup(['x'], encode).shape == (1, 1)


def test_huge_command_is_truncated_not_fatal(model_dir):
    det = load_model(model_dir)
    result = det.infer(scene(32, 32), ['red ' * 3000])
    assert result.text_features.shape == (1, det.text_dim)


def test_int8_and_bf16_on_cpu_stay_close_to_fp32(model_dir):
    image = scene(64, 96)
    reference = all_patches(model_dir).infer(image, ['cup'])
    for precision, tolerance in (('int8', 0.05), ('bf16', 0.05)):
        det = all_patches(model_dir, precision=precision)
        result = det.infer(image, ['cup'])
        assert result.vision_features.dtype == np.float32
        assert float(result.vision_features @ reference.vision_features) > 0.99
        np.testing.assert_allclose(np.sort(result.scores), np.sort(reference.scores),
                                   atol=tolerance)
    assert all_patches(model_dir, precision='bf16').dtype == torch.bfloat16


def test_auto_device_and_precision_selection():
    assert resolve_device('auto', cuda_available=False) == torch.device('cpu')
    assert resolve_device('auto', cuda_available=True) == torch.device('cuda')
    assert resolve_device('cuda:1', cuda_available=True) == torch.device('cuda:1')
    with pytest.raises(ValueError, match='CUDA is not available'):
        resolve_device('cuda', cuda_available=False)
    with pytest.raises(ValueError, match='device must be'):
        resolve_device('tpu', cuda_available=False)
    cuda, cpu = torch.device('cuda'), torch.device('cpu')
    assert resolve_precision('auto', cuda) == ('fp16', torch.float16)
    assert resolve_precision('auto', cpu) == ('fp32', torch.float32)
    assert resolve_precision('bf16', cuda) == ('bf16', torch.bfloat16)
    assert resolve_precision('int8', cpu) == ('int8', torch.float32)
    with pytest.raises(ValueError, match='CPU only'):
        resolve_precision('int8', cuda)
    with pytest.raises(ValueError, match='precision must be'):
        resolve_precision('fp64', cpu)


def test_one_log_line_says_device_and_precision(model_dir, caplog):
    with caplog.at_level(logging.INFO, logger='vlm_perception.model'):
        load_model(model_dir, device='auto')
    lines = [record.getMessage() for record in caplog.records
             if record.name == 'vlm_perception.model']
    assert len(lines) == 1
    assert 'native' in lines[0] and 'on cpu' in lines[0] and 'fp32' in lines[0]


def test_score_threshold_defaults_to_the_model_recommendation(tmp_path):
    VLMForDetection(VLMConfig.tiny(score_threshold=0.37)).save_pretrained(tmp_path)
    assert load_model(tmp_path).score_threshold == pytest.approx(0.37)
    assert load_model(tmp_path, score_threshold=0.2).score_threshold == pytest.approx(0.2)


def test_load_errors_name_the_path(tmp_path, model_dir):
    if not os.path.isdir(DEFAULT_MODEL_PATH):   # until the trained model is committed
        with pytest.raises(ModelLoadError, match=re.escape(DEFAULT_MODEL_PATH)):
            load_model()
    with pytest.raises(ModelLoadError, match=re.escape(str(tmp_path / 'missing'))):
        load_model(tmp_path / 'missing')
    (tmp_path / 'config.json').write_text('{"model_type": "resnet"}')
    with pytest.raises(ModelLoadError, match="unsupported model_type 'resnet'"):
        load_model(tmp_path)
    with pytest.raises(ValueError, match='backend must be'):
        load_model(model_dir, backend='yolo')
