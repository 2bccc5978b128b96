# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""The evaluation set and its scoring, with an oracle that reads the truth and a real model."""

import json

import numpy as np
import pytest
from vlm_perception.model import DetectionResult, load_model, VLMConfig, VLMForDetection
from vlm_perception.training.evaluate import (build_eval_set, choose_threshold, evaluate,
                                              format_table, location_errors, location_summary,
                                              run_calls, summarise)
from vlm_perception.world import HELD_OUT_PAIRS, parse_phrase


class Oracle:
    """Answers every query with the true boxes of what it refers to, scores from a table."""

    model_id = 'oracle'

    def __init__(self, generator, scenes, absent_score=0.0):
        self.truth = {generator.generate(i).image.tobytes(): generator.generate(i)
                      for i in range(scenes)}
        self.score_threshold = 0.5
        self.absent_score = absent_score

    def infer(self, image, queries):
        scene = self.truth[image.tobytes()]
        boxes, scores, indices = [], [], []
        for q, query in enumerate(queries):
            target = parse_phrase(query)
            referents = [o for o in scene.objects if target.matches(o.colour, o.shape)]
            for obj in referents:
                boxes.append(obj.box)
                scores.append(0.9)
                indices.append(q)
            if not referents and self.absent_score > 0:
                boxes.append((0.0, 0.0, 30.0, 30.0))
                scores.append(self.absent_score)
                indices.append(q)
        keep = [i for i, s in enumerate(scores) if s > self.score_threshold]
        return DetectionResult(
            np.zeros(4, np.float32), np.zeros((len(queries), 4), np.float32),
            np.zeros((len(queries), 4), np.float32), [queries[indices[i]] for i in keep],
            np.array([indices[i] for i in keep], np.int64),
            np.array([boxes[i] for i in keep], np.float32).reshape(-1, 4),
            np.array([scores[i] for i in keep], np.float32))


def test_eval_set_is_fixed_and_asks_what_the_issue_asks():
    generator, calls = build_eval_set(seed=5, scenes=30)
    _, again = build_eval_set(seed=5, scenes=30)
    assert calls == again
    kinds = {call.kind for call in calls}
    assert kinds == {'pairs', 'colours', 'shapes', 'multi', 'absent'}
    held_out = {f'{c} {s}' for c, s in HELD_OUT_PAIRS}
    asked = {f'{t.colour} {t.shape}' for call in calls if call.kind == 'pairs'
             for t in call.targets}
    assert asked & held_out  # the eval split asks about held-out pairs
    for call in calls:
        scene = generator.generate(call.scene)
        found = [scene.referred(phrase) for phrase in call.phrases]
        if call.kind == 'absent':
            assert found == [[]]
        if call.kind == 'multi':
            assert 2 <= len(call.phrases) <= 3 and all(found)
            flat = [i for f in found for i in f]
            assert len(flat) == len(set(flat))  # the phrases name different objects


def test_perfect_answers_score_perfectly_and_false_alarms_count():
    generator, calls = build_eval_set(seed=1, scenes=25)
    oracle = Oracle(generator, 25)
    metrics = summarise(run_calls(oracle, generator, calls), oracle.score_threshold)
    for key in ('ap50_seen', 'ap50_95_seen', 'ap50_held_out', 'ap50_colour_only',
                'ap50_shape_only', 'multi_object_recall'):
        assert metrics[key] == pytest.approx(1.0), key
    assert metrics['absent_false_positive_rate'] == 0.0
    assert oracle.score_threshold == 0.5  # restored after the AP calls
    noisy = Oracle(generator, 25, absent_score=0.95)  # above every true detection
    metrics = summarise(run_calls(noisy, generator, calls), noisy.score_threshold)
    assert metrics['absent_false_positive_rate'] == 1.0
    assert metrics['ap50_seen'] < 1.0
    assert 'AP50, held-out pairs' in format_table({**metrics, 'model': 'x', 'scenes': 25,
                                                   'seed': 1})


def test_true_boxes_are_located_in_space_as_the_node_would():
    generator, calls = build_eval_set(seed=1, scenes=25)
    oracle = Oracle(generator, 25)
    metrics = summarise(run_calls(oracle, generator, calls), oracle.score_threshold)
    true_boxes = metrics['position_3d_true_boxes']
    # The oracle's answers are the true boxes, so its true positives are every object.
    assert metrics['counts']['true_positives_3d'] == true_boxes['count'] > 50
    assert metrics['position_3d_median_error_m'] == true_boxes['median_error_m'] < 0.005
    assert metrics['position_3d_within_5cm'] > 0.95
    assert '3D within 5 cm' in format_table({**metrics, 'model': 'x', 'scenes': 25, 'seed': 1})
    # A box beside the object finds something else.
    scene = generator.generate(0)
    obj = scene.objects[0]
    width = obj.box[2] - obj.box[0]
    beside = np.array(obj.box) - [1.2 * width, 0.0, 1.2 * width, 0.0]
    assert location_errors(scene, np.array([obj.box]), [obj])[0] < 0.01
    assert location_errors(scene, beside[None], [obj])[0] > 0.03


def test_a_detection_without_a_3d_position_counts_as_beyond_5_cm():
    summary = location_summary([0.004, 0.015, 0.03, float('nan')])
    assert summary['within_2cm'] == 0.5 and summary['within_5cm'] == 0.75
    assert summary['median_error_m'] == pytest.approx(0.0225)
    assert summary['without_position'] == 1 and summary['count'] == 4
    assert location_summary([float('nan')] * 3)['median_error_m'] == float('inf')
    assert np.isnan(location_summary([])['median_error_m'])


def test_threshold_choice_stays_above_false_alarms():
    generator, _ = build_eval_set(seed=9, split='train', scenes=20)
    oracle = Oracle(generator, 20, absent_score=0.3)
    threshold, stats = choose_threshold(oracle, seed=9, scenes=20)
    assert threshold >= 0.3 and stats['false_positive_rate'] == 0.0
    assert stats['recall'] == pytest.approx(1.0)


def test_a_real_model_runs_through_load_model(tmp_path):
    VLMForDetection(VLMConfig.tiny()).save_pretrained(tmp_path)
    metrics = evaluate(load_model(str(tmp_path), device='cpu'), seed=3, scenes=4)
    for key in ('ap50_seen', 'absent_false_positive_rate', 'multi_object_recall'):
        assert 0.0 <= metrics[key] <= 1.0 or np.isnan(metrics[key])
    assert metrics['scenes'] == 4 and metrics['model'] == str(tmp_path)


def test_eval_command_prints_json(tmp_path, capsys):
    from vlm_perception.cli import main
    VLMForDetection(VLMConfig.tiny()).save_pretrained(tmp_path)
    assert main(['eval', '--model', str(tmp_path), '--scenes', '2', '--json',
                 '--threads', '1']) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics['scenes'] == 2 and 'ap50_held_out' in metrics
    assert main(['eval', '--model', str(tmp_path), '--scenes', '2', '--threads', '1']) == 0
    assert 'false positives, absent objects' in capsys.readouterr().out
