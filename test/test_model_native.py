# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests of the native model: tokenizer, architecture, geometry and save/load."""

import json
import os
import re

import numpy as np
import pytest
import torch

from vlm_perception.model import ModelLoadError, VLMConfig, VLMForDetection, VLMTokenizer
from vlm_perception.model.image import resize_8bit, resize_8bit_float


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    return VLMForDetection(VLMConfig.tiny()).eval()


def random_image(height, width, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_tokenizer_lowercases_pads_and_marks_unknown_words():
    tok = VLMTokenizer.from_texts(['red circle', 'blue square'], max_length=8)
    batch = tok(['Red CIRCLE', 'zebra'])
    ids, mask = batch['input_ids'], batch['attention_mask']
    assert ids.dtype == torch.int64 and mask.dtype == torch.int64
    assert ids.shape == (2, 4)
    assert ids[0].tolist() == [tok.cls_id, tok.token_to_id['red'], tok.token_to_id['circle'],
                               tok.eos_id]
    assert ids[1].tolist() == [tok.cls_id, tok.unk_id, tok.eos_id, tok.pad_id]
    assert mask.tolist() == [[1, 1, 1, 1], [1, 1, 1, 0]]


def test_tokenizer_truncates_a_huge_command_to_max_length():
    tok = VLMTokenizer.default(max_length=6)
    batch = tok(['red ' * 5000])
    assert batch['input_ids'].shape == (1, 6)
    assert batch['input_ids'][0, -1].item() == tok.eos_id


def test_tokenizer_save_and_load(tmp_path):
    tok = VLMTokenizer.from_texts(['a gizmo'], max_length=10)
    tok.save_pretrained(tmp_path)
    loaded = VLMTokenizer.from_pretrained(tmp_path)
    assert loaded.vocab == tok.vocab and loaded.max_length == 10
    assert torch.equal(loaded(['gizmo'])['input_ids'], tok(['gizmo'])['input_ids'])


def test_forward_shapes_and_normalised_embeddings(model):
    config = model.config
    pixels = model.preprocess([random_image(48, 72), random_image(48, 72, seed=1)])
    assert pixels.shape == (2, 3, 64, 96) and pixels.dtype == torch.float32
    text = model.encode_text(**model.tokenize(['red circle', 'blue square', 'cup']))
    assert text.shape == (3, config.projection_dim)
    torch.testing.assert_close(text.norm(dim=-1), torch.ones(3))
    with torch.no_grad():
        out = model(pixels, text.expand(2, -1, -1))
    patches = (64 // 16) * (96 // 16)
    assert out.grid == (4, 6)
    assert out.logits.shape == (2, patches, 3)
    assert out.pred_boxes.shape == (2, patches, 4)
    assert ((out.pred_boxes >= 0) & (out.pred_boxes <= 1)).all()
    assert out.image_embeds.shape == (2, config.projection_dim)
    torch.testing.assert_close(out.image_embeds.norm(dim=-1), torch.ones(2))
    assert out.fused.shape == (2, 3, config.fusion_dim)


def test_untrained_boxes_start_at_their_patch(model):
    with torch.no_grad():
        out = model(model.preprocess(random_image(64, 96)),
                    model.encode_text(**model.tokenize(['cup']))[None])
    # Patch (row 1, column 2) of a 4x6 grid: centre (2.5 / 6, 1.5 / 4), size (1 / 6, 1 / 4).
    box = out.pred_boxes[0, 1 * 6 + 2]
    torch.testing.assert_close(box, torch.tensor([2.5 / 6, 1.5 / 4, 1 / 6, 1 / 4]),
                               atol=1e-3, rtol=0)


def test_a_query_result_does_not_depend_on_the_other_queries(model):
    pixels = model.preprocess(random_image(64, 96))
    text = model.encode_text(**model.tokenize(['red circle', 'blue square', 'cup']))
    with torch.no_grad():
        alone = model(pixels, text[None, :1])
        together = model(pixels, text[None])
    torch.testing.assert_close(alone.logits[..., 0], together.logits[..., 0])
    torch.testing.assert_close(alone.fused[:, 0], together.fused[:, 0])
    torch.testing.assert_close(alone.pred_boxes, together.pred_boxes)


def test_padded_queries_are_masked_and_do_not_change_real_ones(model):
    pixels = model.preprocess(random_image(64, 96))
    text = model.encode_text(**model.tokenize(['red circle', 'cup']))
    mask = torch.tensor([[True, False]])
    with torch.no_grad():
        padded = model(pixels, text[None], mask)
        alone = model(pixels, text[None, :1])
    assert (padded.logits[..., 1] == torch.finfo(torch.float32).min).all()
    torch.testing.assert_close(padded.logits[..., :1], alone.logits)


@pytest.mark.parametrize('patch_embedding', ['linear', 'conv'])
def test_non_square_and_other_sized_inputs_interpolate_positions(patch_embedding):
    torch.manual_seed(0)
    model = VLMForDetection(VLMConfig.tiny(patch_embedding=patch_embedding)).eval()
    text = model.encode_text(**model.tokenize(['cup']))[None]
    with torch.no_grad():
        tall = model(torch.randn(1, 3, 160, 32), text)
        base = model(torch.randn(1, 3, 64, 96), text)
    assert tall.grid == (10, 2) and tall.logits.shape == (1, 20, 1)
    assert torch.isfinite(tall.logits).all() and torch.isfinite(tall.pred_boxes).all()
    assert base.grid == (4, 6)
    with pytest.raises(ValueError, match='multiple of patch size'):
        model(torch.randn(1, 3, 50, 64), text)


def test_preprocess_fits_the_input_size_keeping_aspect_ratio(model):
    # A 4:3 frame twice the training size is shrunk to it; a 2:1 frame is padded below.
    geometry = model.input_geometry(128, 192)
    assert (geometry.input_height, geometry.input_width) == (64, 96)
    assert geometry.scale_x == geometry.scale_y == 0.5
    wide = model.input_geometry(100, 400)
    assert (wide.input_height, wide.input_width) == (32, 96)
    assert wide.scale_x == 96 / 400 and wide.scale_y == 24 / 100
    assert model.preprocess(random_image(100, 400)).shape == (1, 3, 32, 96)


def test_preprocess_normalises_grayscale_and_bgr_like_rgb(model):
    rgb = random_image(64, 96)
    from_rgb = model.preprocess(rgb)
    torch.testing.assert_close(model.preprocess(rgb[:, :, ::-1], 'bgr'), from_rgb)
    gray = rgb[:, :, 1]
    from_gray = model.preprocess(gray)
    torch.testing.assert_close(model.preprocess(np.stack([gray] * 3, axis=-1)), from_gray)
    mean, std = model.config.image_mean[0], model.config.image_std[0]
    expected = (rgb[0, 0, 0] / 255.0 - mean) / std
    assert from_rgb[0, 0, 0, 0].item() == pytest.approx(expected, abs=1e-5)


def test_geometry_maps_boxes_both_ways(model):
    geometry = model.input_geometry(100, 400)
    boxes = torch.tensor([[40.0, 10.0, 120.0, 90.0], [0.0, 0.0, 400.0, 100.0]])
    normalised = geometry.boxes_to_input(boxes)
    assert normalised[1, 2].item() == pytest.approx(1.0)   # full width = whole input width
    assert normalised[1, 3].item() == pytest.approx(24 / 32)   # image covers 24 of 32 rows
    torch.testing.assert_close(geometry.boxes_to_image(normalised), boxes)


def test_backward_reaches_every_parameter():
    torch.manual_seed(0)
    model = VLMForDetection(VLMConfig.tiny())
    pixels = torch.randn(2, 3, 64, 96)
    text = model.encode_text(**model.tokenize(['red circle', 'cup']))
    out = model(pixels, text.expand(2, -1, -1))
    loss = out.logits.sigmoid().sum() + out.pred_boxes.sum() + out.image_embeds.sum()
    loss.backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None]
    assert missing == []


@pytest.mark.parametrize('patch_embedding', ['linear', 'conv'])
def test_save_and_load_give_identical_outputs(tmp_path, patch_embedding):
    torch.manual_seed(0)
    tok = VLMTokenizer.from_texts(['a gizmo'], max_length=12)
    model = VLMForDetection(VLMConfig.tiny(patch_embedding=patch_embedding, max_text_length=12),
                            tok).eval()
    model.save_pretrained(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ['config.json', 'model.safetensors', 'tokenizer.json']
    assert json.loads((tmp_path / 'config.json').read_text())['backend'] == 'native'
    loaded = VLMForDetection.from_pretrained(tmp_path)
    assert not loaded.training
    assert loaded.config == model.config and loaded.tokenizer.vocab == tok.vocab
    pixels = model.preprocess(random_image(64, 96))
    with torch.no_grad():
        a = model(pixels, model.encode_text(**model.tokenize(['gizmo']))[None])
        b = loaded(pixels, loaded.encode_text(**loaded.tokenize(['gizmo']))[None])
    for name in ('logits', 'pred_boxes', 'image_embeds', 'fused'):
        assert torch.equal(getattr(a, name), getattr(b, name))


def test_loading_problems_name_the_path(tmp_path):
    missing = tmp_path / 'nowhere'
    with pytest.raises(ModelLoadError, match=re.escape(str(missing))):
        VLMForDetection.from_pretrained(missing)
    folder = tmp_path / 'model'
    VLMForDetection(VLMConfig.tiny()).save_pretrained(folder)
    weights = folder / 'model.safetensors'
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ModelLoadError, match='corrupt weights.*' + re.escape(str(weights))):
        VLMForDetection.from_pretrained(folder)
    VLMForDetection(VLMConfig.tiny()).save_pretrained(folder)
    config = folder / 'config.json'
    config.write_text(config.read_text().replace('"vision_dim": 32', '"vision_dim": 64'))
    with pytest.raises(ModelLoadError, match='do not fit'):
        VLMForDetection.from_pretrained(folder)
    config.write_text('{not json')
    with pytest.raises(ModelLoadError, match='bad model config ' + re.escape(str(config))):
        VLMForDetection.from_pretrained(folder)
    os.remove(folder / 'tokenizer.json')
    with pytest.raises(ModelLoadError, match='tokenizer.json'):
        VLMForDetection.from_pretrained(folder)


def test_config_rejects_bad_options():
    with pytest.raises(ValueError, match='patch_embedding'):
        VLMConfig(patch_embedding='fourier')
    with pytest.raises(ValueError, match='multiples of patch_size'):
        VLMConfig(image_size=(100, 320))
    with pytest.raises(ValueError, match='unknown config keys'):
        VLMConfig.from_dict({'vision_size': 3})
    assert VLMConfig.reference().vision_dim == 768
    assert VLMConfig.from_dict(VLMConfig.tiny().to_dict()) == VLMConfig.tiny()


@pytest.mark.parametrize('mode', ['bilinear', 'bicubic'])
@pytest.mark.parametrize('size', [(48, 64), (130, 130), (30, 200)])
def test_gpu_resize_path_agrees_with_the_cpu_uint8_kernel(mode, size):
    # The CPU uses torch's uint8 kernel; other devices take the float path. Both must be
    # the same 8-bit resampling, so CPU and GPU feed the model the same pixels.
    image = torch.from_numpy(random_image(100, 150)).permute(2, 0, 1)[None]
    cpu = resize_8bit(image, *size, mode=mode)
    other = resize_8bit_float(image, *size, mode=mode)
    assert cpu.dtype == other.dtype == torch.float32
    assert (cpu - other).abs().max() <= 2.0
    assert (cpu - other).abs().mean() < 0.2
