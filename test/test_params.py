# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""The node's parameter table: checks, run-time rules, and the defaults file agreeing with it."""

from pathlib import Path

import pytest
from vlm_perception.params import check_update, defaults, PARAMETERS, SPECS
import yaml

CONFIG = Path(__file__).resolve().parents[1] / 'config' / 'vlm_perception.yaml'


def test_defaults_file_matches_the_declared_parameters():
    config = yaml.safe_load(CONFIG.read_text())
    assert config['/**']['ros__parameters'] == defaults()


def test_every_default_passes_its_own_check_and_has_a_description():
    for spec in PARAMETERS:
        assert spec.check(spec.default) is None, spec.name
        assert spec.description, spec.name


@pytest.mark.parametrize('name, value, words', [
    ('score_threshold', 1.5, '[-1.0, 1.0]'),
    ('score_threshold', 1, 'must be a float'),
    ('max_detections', 0, '[1, 1000]'),
    ('sync_policy', 'sometimes', 'latest, on_command'),
    ('precision', 'fp8', 'one of'),
])
def test_bad_values_are_refused_with_a_reason(name, value, words):
    assert words in SPECS[name].check(value)


def test_run_time_changes_respect_read_only():
    assert check_update('score_threshold', 0.5) is None
    assert check_update('sync_policy', 'on_command') is None
    assert 'read-only' in check_update('model', '/other/model')
    assert 'read-only' in check_update('device', 'cpu')
    assert check_update('use_sim_time', True) is None  # rclpy's own parameter
