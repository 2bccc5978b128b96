# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""The demo: its command phrasing and answer checking, and one short run on a real graph."""

from pathlib import Path
import re
import subprocess
import sys

import numpy as np
import pytest
from ros_graph import save_tiny_model

demo = pytest.importorskip('vlm_perception.demo')


def test_commands_cycle_through_kinds_and_the_absent_object_is_absent():
    rng = np.random.default_rng(0)
    names = ['red circle', 'blue square', 'red star']
    commands = [demo.compose_command(rng, names, turn) for turn in range(5)]
    assert len(commands[1].split(',')) == 2
    present, absent = commands[4].split(';')
    target = demo.parse_phrase(absent)
    assert not any(target.matches(*name.split(' ', 1)) for name in names)
    assert demo.parse_phrase(present).shape is not None


def test_answers_are_scored_against_the_truth():
    truth = {'labels': ['red circle', 'blue square', 'red star'],
             'boxes': np.array([[10, 10, 50, 50], [100, 100, 150, 150], [200, 20, 240, 60]],
                               np.float32)}
    answer = {'queries': ['something red', 'green cross'],
              'labels': ['something red', 'something red', 'green cross'],
              'boxes': np.array([[11, 9, 50, 52], [100, 100, 150, 150], [0, 0, 5, 5]],
                                np.float32),
              'scores': np.array([0.9, 0.8, 0.7], np.float32)}
    rows = demo.check_answer(answer, truth)
    red, green = rows
    assert red[:4] == ('something red', 1, 2, 1)  # one red found, one box on the blue square
    assert green[:4] == ('green cross', 0, 0, 1)
    assert [found.correct for found in red[4]] == [True, False]
    assert all(found.position is None and found.error is None for found in red[4])


def test_found_objects_are_placed_and_compared_with_the_true_centre():
    truth = {'labels': ['red circle', 'blue square'],
             'boxes': np.array([[10, 10, 50, 50], [100, 100, 150, 150]], np.float32),
             'positions_3d': np.array([[0.1, 0.0, 0.8], [-0.2, 0.1, 0.9]], np.float32)}
    answer = {'queries': ['blue square', 'red circle'],
              'labels': ['blue square', 'red circle', 'red circle'],
              'boxes': np.array([[101, 99, 150, 151], [10, 10, 50, 50], [200, 200, 220, 220]],
                                np.float32),
              'scores': np.array([0.9, 0.8, 0.3], np.float32),
              'positions_3d': np.array([[-0.2, 0.1, 0.93], [np.nan] * 3, [0.5, 0.5, 1.0]],
                                       np.float32)}
    blue, red = demo.check_answer(answer, truth)
    assert blue[4][0].correct and blue[4][0].error == pytest.approx(0.03, abs=1e-6)
    assert 'at (-0.200, +0.100, 0.930) m, 3.0 cm from the true centre' in \
        demo.describe(blue[4][0])
    located_nowhere, false_one = red[4]
    assert located_nowhere.correct and np.isnan(located_nowhere.error)
    assert 'no depth in its box' in demo.describe(located_nowhere)
    assert not false_one.correct and false_one.error is None


@pytest.mark.ros
def test_demo_with_the_shipped_model_finds_what_it_is_asked_for():
    # What `make demo` runs, shortened: no --model, so the node loads its default.
    run = subprocess.run(
        [sys.executable, '-m', 'vlm_perception.demo', '--duration', '8', '--scene-period', '2'],
        capture_output=True, text=True, timeout=300, cwd=Path(__file__).parent)
    assert run.returncode == 0, run.stdout + run.stderr
    assert 'asked:' in run.stdout and 'transport: Fast DDS, shared memory' in run.stdout
    summary = run.stdout.strip().splitlines()[-1]
    found = re.match(r'summary: (\d+)/(\d+) commands answered, (\d+)/(\d+) objects found',
                     summary)
    assert found, summary
    answered, asked, hits, wanted = map(int, found.groups())
    assert asked >= 3 and answered >= asked - 1 and hits >= 0.75 * wanted > 0, summary
    # With the camera's depth, the found objects are placed in 3D near the world's truth.
    located = re.search(r'median 3D error ([\d.]+) cm \((\d+)/(\d+) found objects located\)',
                        summary)
    assert located, summary
    assert float(located.group(1)) <= 2.0 and int(located.group(2)) >= 0.9 * int(located.group(3))
    assert 'cm from the true centre' in run.stdout
    assert 'Traceback' not in run.stderr


@pytest.mark.ros
def test_demo_runs_another_model_and_says_when_the_node_cannot_start(tmp_path):
    model = save_tiny_model(tmp_path / 'model')
    run = subprocess.run(
        [sys.executable, '-m', 'vlm_perception.demo', '--model', model, '--duration', '4',
         '--scene-period', '1'],
        capture_output=True, text=True, timeout=300, cwd=Path(__file__).parent)
    assert run.returncode == 0 and 'summary: ' in run.stdout, run.stdout + run.stderr
    run = subprocess.run(
        [sys.executable, '-m', 'vlm_perception.demo', '--model', str(tmp_path / 'missing')],
        capture_output=True, text=True, timeout=300, cwd=Path(__file__).parent)
    assert run.returncode == 1
    assert 'model folder not found' in run.stderr and 'ended at startup' in run.stderr
    assert 'Traceback' not in run.stderr
