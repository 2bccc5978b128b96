# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""The training command: recipe options, the schedule, and a few real steps end to end."""

import argparse
import json
import os

import numpy as np
import pytest
from vlm_perception.model import load_model, VLMConfig
from vlm_perception.training import train as train_module
from vlm_perception.training.recipe import DEFAULT_RECIPE, Recipe


def _args(*argv):
    parser = argparse.ArgumentParser()
    train_module.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_default_recipe_builds_a_valid_model_config():
    VLMConfig(**DEFAULT_RECIPE.model)
    assert Recipe.from_dict(DEFAULT_RECIPE.to_dict()) == DEFAULT_RECIPE


def test_options_override_the_recipe():
    recipe = train_module.recipe_from_args(_args(
        '--seed', '7', '--steps', '12', '--set', 'model.vision_depth=1',
        '--set', 'loss.radius=0.7', '--set', 'model.patch_embedding=linear'))
    assert (recipe.seed, recipe.steps) == (7, 12)
    assert recipe.model['vision_depth'] == 1 and recipe.model['patch_embedding'] == 'linear'
    assert recipe.loss['radius'] == 0.7
    assert DEFAULT_RECIPE.model['vision_depth'] != 1  # the default is untouched
    with pytest.raises(SystemExit):
        train_module.recipe_from_args(_args('--set', 'model.no_such_field=1'))


def test_schedule_warms_up_then_decays_to_the_floor():
    recipe = Recipe(learning_rate=1e-3, min_learning_rate=1e-5, warmup_steps=10)
    rates = [train_module.learning_rate(recipe, step, 100) for step in range(100)]
    assert rates[0] == pytest.approx(1e-4) and rates[9] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(rates[9:], rates[10:]))
    assert train_module.learning_rate(recipe, 100, 100) == pytest.approx(1e-5)


def test_a_few_steps_train_save_and_load_through_load_model(tmp_path):
    tiny = VLMConfig.tiny().to_dict()
    model = {key: tiny[key] for key in DEFAULT_RECIPE.model}
    recipe = Recipe(seed=3, steps=3, batch_size=2, warmup_steps=1, queries_per_image=8,
                    sizes=[[96, 64]], model=model, calibration_scenes=3,
                    loss={**DEFAULT_RECIPE.loss, 'auxiliary': 1.0})
    lines = []
    out = str(tmp_path / 'model')
    summary = train_module.train(recipe, out, log_every=1, log=lines.append)
    assert summary['steps_done'] == 3 and any('step     3/3' in line for line in lines)
    with open(os.path.join(out, train_module.TRAINING_FILE)) as stream:
        assert json.load(stream)['recipe']['seed'] == 3
    detector = load_model(out, device='cpu')
    assert detector.score_threshold == summary['calibration']['score_threshold']
    assert 0.05 <= detector.score_threshold <= 0.95
    result = detector.infer(np.zeros((64, 96, 3), np.uint8), ['red circle', 'something blue'])
    assert result.text_features.shape[0] == 2
