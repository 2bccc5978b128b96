# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""The training command: recipe options, the schedule, and a few real steps end to end."""

import argparse
import json
import os

import numpy as np
import pytest
import torch
from vlm_perception.model import load_model, VLMConfig, VLMForDetection
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


def test_stem_parameters_get_their_own_learning_rate_scale():
    tiny = VLMConfig.tiny().to_dict()
    recipe = Recipe(model={key: tiny[key] for key in DEFAULT_RECIPE.model},
                    stem_learning_rate_scale=3.0)
    model = train_module.build_model(recipe)
    optimizer = train_module.make_optimizer(model, recipe)
    stem = {id(p) for p in model.vision.patch_embed.parameters()}
    for group in optimizer.param_groups:
        in_stem = {id(p) in stem for p in group['params']}
        assert len(in_stem) == 1
        assert group['lr_scale'] == (3.0 if in_stem.pop() else 1.0)
    assert sum(len(g['params']) for g in optimizer.param_groups) == len(list(model.parameters()))


def test_a_deeper_stem_keeps_the_token_grid():
    plain = VLMForDetection(VLMConfig.tiny())
    deep = VLMForDetection(VLMConfig.tiny(stem_depth=2))
    pixels = torch.zeros(1, 3, 64, 96)
    tokens, grid = plain.vision.patch_embed(pixels)
    deep_tokens, deep_grid = deep.vision.patch_embed(pixels)
    assert deep_grid == grid and deep_tokens.shape == tokens.shape
    convs = [m for m in deep.vision.patch_embed.stem if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 1 + 2 * 3  # patchify, then per downsampling one stride-2 + two 3x3


def test_the_same_seed_gives_the_same_weights(tmp_path):
    tiny = VLMConfig.tiny().to_dict()
    recipe = Recipe(seed=5, steps=2, batch_size=2, warmup_steps=1, queries_per_image=6,
                    sizes=[[96, 64]], model={key: tiny[key] for key in DEFAULT_RECIPE.model},
                    calibration_scenes=0)
    runs = []
    for name in ('a', 'b'):
        train_module.train(recipe, str(tmp_path / name), log=lambda line: None)
        runs.append(VLMForDetection.from_pretrained(str(tmp_path / name)).state_dict())
    assert all(torch.equal(runs[0][key], runs[1][key]) for key in runs[0])
