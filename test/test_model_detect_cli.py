# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests of ``vlm-perception detect`` on a tiny native model."""

import json

import cv2
import numpy as np
import pytest

from vlm_perception.cli import main
from vlm_perception.model.random_models import build_random_native


@pytest.fixture(scope='module')
def model_dir(tmp_path_factory):
    return build_random_native(tmp_path_factory.mktemp('native'))


@pytest.fixture(scope='module')
def image_path(tmp_path_factory):
    path = tmp_path_factory.mktemp('images') / 'scene.png'
    image = np.random.default_rng(0).integers(0, 256, (60, 100, 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), image)
    return path


def test_json_output_has_the_result_fields(model_dir, image_path, capsys):
    code = main(['detect', str(image_path), '--text', 'red cup, tennis ball;red cup',
                 '--model', str(model_dir), '--threshold', '0', '--json'])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary['queries'] == ['red cup', 'tennis ball']
    assert (summary['image_width'], summary['image_height']) == (100, 60)
    assert summary['backend'] == 'native' and summary['device'] == 'cpu'
    assert summary['vision_features'] == {'length': 32}
    assert summary['text_features'] == {'rows': 2, 'length': 32}
    assert summary['fused_features'] == {'rows': 2, 'length': 32}
    count = len(summary['labels'])
    assert count > 0 and len(summary['boxes']) == len(summary['scores']) == count
    assert set(summary['labels']) <= {'red cup', 'tennis ball'}
    assert all(0 <= box[0] <= box[2] <= 100 and 0 <= box[1] <= box[3] <= 60
               for box in summary['boxes'])
    assert summary['scores'] == sorted(summary['scores'], reverse=True)


def test_text_output_lists_detections_and_feature_sizes(model_dir, image_path, capsys):
    code = main(['detect', str(image_path), '--text', 'cup', '--model', str(model_dir),
                 '--threshold', '0'])
    assert code == 0
    out = capsys.readouterr().out
    assert 'features: vision 32, text 1x32, fused 1x32' in out
    assert 'detection(s):' in out and '\n  cup  ' in out


def test_bad_image_or_model_is_one_clear_line(model_dir, image_path, tmp_path, capsys):
    missing_image = tmp_path / 'nope.png'
    assert main(['detect', str(missing_image), '--text', 'cup',
                 '--model', str(model_dir)]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(missing_image) in err
    missing_model = tmp_path / 'no-model'
    assert main(['detect', str(image_path), '--text', 'cup',
                 '--model', str(missing_model)]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(missing_model) in err
    assert main(['detect', str(image_path), '--text', ' , ;', '--model', str(model_dir)]) != 0
    assert 'nothing to look for' in capsys.readouterr().err
