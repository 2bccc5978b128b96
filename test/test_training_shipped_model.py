# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""The shipped default model: small, loads with no argument and no network, finds things."""

import os

import numpy as np
from vlm_perception.model import DEFAULT_MODEL_PATH, load_model
from vlm_perception.training.metrics import iou_matrix
from vlm_perception.world import SceneGenerator


def test_shipped_folder_is_small_and_complete():
    names = set(os.listdir(DEFAULT_MODEL_PATH))
    assert {'config.json', 'model.safetensors', 'tokenizer.json'} <= names
    size = sum(os.path.getsize(os.path.join(DEFAULT_MODEL_PATH, n)) for n in names)
    assert size <= 20 * 1024 * 1024


def test_default_model_finds_named_objects_and_ignores_absent_ones(monkeypatch):
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    detector = load_model(device='cpu')
    assert detector.backend == 'native' and 0.0 < detector.score_threshold < 1.0
    generator = SceneGenerator(seed=11, split='eval')
    found = total = false_alarms = 0
    for index in range(12):
        scene = generator.generate(index)
        obj = scene.objects[0]
        result = detector.infer(scene.image, [f'pick up the {obj.colour} {obj.shape}'])
        truth = [o.box for o in scene.objects if (o.colour, o.shape) == (obj.colour, obj.shape)]
        total += 1
        found += int(len(result.boxes) > 0 and iou_matrix(result.boxes[:1], truth).max() >= 0.5)
        absent = [c for c in ('red', 'green', 'blue', 'yellow', 'orange', 'purple', 'white',
                              'black') if c not in {o.colour for o in scene.objects}]
        false_alarms += len(detector.infer(scene.image, [f'something {absent[0]}']).boxes) > 0
    assert found >= 11 and false_alarms <= 1
    # A BGR frame goes through the same path.
    bgr = np.ascontiguousarray(scene.image[:, :, ::-1])
    assert detector.infer(bgr, ['the star'], channel_order='bgr').boxes.shape[1:] == (4,)
