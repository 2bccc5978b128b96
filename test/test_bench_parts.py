# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""The benchmark's plain parts: interleaving, summaries, detection matching, options."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from vlm_perception.bench.inprocess import compare_detections
from vlm_perception.bench.stats import interleave, ratio, summarise
from vlm_perception.cli import main


def test_interleave_rotates_the_order_and_collects_every_measure():
    calls = []

    def side(name):
        def run():
            calls.append(name)
            return {'total': 0.001, 'part': 0.0005}
        return run

    samples = interleave({'a': side('a'), 'b': side('b'), 'c': side('c')}, 3, warmup=1)
    assert calls == ['a', 'b', 'c', 'a', 'b', 'c', 'b', 'c', 'a', 'c', 'a', 'b']
    assert samples['a'] == {'total': [0.001] * 3, 'part': [0.0005] * 3}


def test_summarise_in_milliseconds():
    summary = summarise([0.001 * value for value in range(1, 101)])
    assert summary['n'] == 100
    assert summary['median_ms'] == pytest.approx(50.5)
    assert summary['p95_ms'] == pytest.approx(95.05)
    assert (summary['min_ms'], summary['max_ms']) == (1.0, 100.0)
    assert summarise([])['median_ms'] is None
    assert ratio(3.0, 2.0) == 1.5 and ratio(None, 2.0) is None and ratio(1.0, 0.0) is None


def detections(boxes, scores, labels):
    return (np.array(boxes, np.float32).reshape(-1, 4), np.array(scores, np.float32),
            np.array(labels, np.int64))


def test_compare_detections_matches_by_label_box_and_score():
    ours = detections([[10, 10, 50, 50], [100, 100, 200, 150]], [0.9, 0.5], [0, 1])
    theirs = detections([[100.4, 100, 200, 150.2], [10, 10, 50, 50]], [0.502, 0.9], [1, 0])
    found = compare_detections(ours, theirs, 640, 480, threshold=0.1)
    assert found['same_detections'] and found['matched'] == 2
    assert found['box_error_px']['max'] == pytest.approx(0.4, abs=1e-3)
    assert found['label_changes'] == 0

    moved = detections([[10, 10, 50, 50], [103, 100, 200, 150]], [0.9, 0.5], [0, 1])
    found = compare_detections(ours, moved, 640, 480, threshold=0.1)
    assert not found['same_detections']
    assert found['theirs_not_in_ours'] == found['ours_not_in_theirs'] == 1

    relabelled = detections([[10, 10, 50, 50], [100, 100, 200, 150]], [0.9, 0.5], [0, 2])
    found = compare_detections(ours, relabelled, 640, 480, 0.1)
    assert not found['same_detections'] and found['label_changes'] == 1
    # Pairing within labels (as for the pipeline) finds no partner for it instead.
    found = compare_detections(ours, relabelled, 640, 480, 0.1, match_labels=True)
    assert found['theirs_not_in_ours'] == 1 and found['label_changes'] == 0


def test_compare_detections_clips_theirs_and_forgives_borderline_scores():
    ours = detections([[600, 10, 640, 50]], [0.8], [0])
    theirs = detections([[600, 10, 660, 50], [0, 0, 20, 20]], [0.8, 0.105], [0, 0])
    found = compare_detections(ours, theirs, 640, 480, threshold=0.1)
    assert found['same_detections'] and found['matched'] == 1


def test_bad_options_exit_with_2(capsys):
    assert main(['bench', '--only', 'model,nonsense']) == 2
    assert 'nonsense' in capsys.readouterr().err
    assert main(['bench', '--compare-precisions', 'int8']) == 2


def test_gpu_check_runs_what_the_machine_has():
    from vlm_perception.bench.runtimes import gpu_variants
    assert gpu_variants([]) == ['torch_fp16']
    assert gpu_variants(['CPUExecutionProvider']) == ['torch_fp16']
    assert gpu_variants(['CUDAExecutionProvider', 'CPUExecutionProvider']) == [
        'torch_fp16', 'onnxruntime_fp32']
    assert gpu_variants(['TensorrtExecutionProvider', 'CUDAExecutionProvider',
                         'CPUExecutionProvider']) == [
        'torch_fp16', 'onnxruntime_fp32', 'onnxruntime_fp16']


def test_gpu_check_says_so_without_cuda(tmp_path):
    if torch.cuda.is_available():
        pytest.skip('this machine has CUDA: scripts/gpu_check.sh would run for real')
    script = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'scripts',
                          'gpu_check.sh')
    done = subprocess.run(['bash', script, str(tmp_path / 'gpu.json')], capture_output=True,
                          text=True, timeout=120, env=dict(os.environ, PYTHON=sys.executable))
    assert done.returncode == 2
    assert 'no CUDA device' in done.stderr
    assert not (tmp_path / 'gpu.json').exists()


def test_bench_rejects_unknown_runtime_variants(capsys):
    assert main(['bench', '--quick', '--runtimes', 'tensorflow_int8']) == 2
    assert '--runtimes: choose from' in capsys.readouterr().err


def test_matched_box_errors_pair_same_query_overlapping_boxes():
    from vlm_perception.bench.runtimes import matched_box_errors
    from vlm_perception.model import DetectionResult

    def result(boxes, scores, labels):
        empty = np.zeros(0, np.float32)
        return DetectionResult(empty, empty, empty, [], np.array(labels, np.int64),
                               np.array(boxes, np.float32).reshape(-1, 4),
                               np.array(scores, np.float32))

    reference = result([[0, 0, 10, 10], [50, 50, 80, 80], [100, 0, 120, 20]],
                       [0.9, 0.8, 0.2], [0, 1, 0])
    # The first box moved 1 px, the second 3 px; the third is gone; a new one far away;
    # a box over the second one but for another query does not count.
    found = result([[1, 0, 11, 10], [50, 53, 80, 83], [300, 300, 310, 310], [50, 50, 80, 80]],
                   [0.88, 0.82, 0.3, 0.5], [0, 1, 0, 0])
    report = matched_box_errors(found, reference)
    assert (report['matched'], report['reference'], report['detections']) == (2, 3, 4)
    assert report['matched_share'] == round(2 / 3, 4)
    assert report['box_error_px']['max'] == 3.0 and report['box_error_px']['median'] == 2.0
    assert report['score_error']['max'] == 0.02


def test_transport_table_copes_with_missing_counts_and_latency():
    from vlm_perception.bench.transport import transport_lines

    summary = {'median_ms': 2.5, 'p95_ms': 3.0, 'n': 20}
    entry = {'jpeg_quality': 95, 'rate_hz': 30.0, 'compressed_over_raw_latency': None,
             'sizes': {'raw_bytes': 921600, 'jpeg_bytes': 73000, 'depth_raw_bytes': 614400,
                       'depth_png_bytes': 150000, 'depth_rvl_bytes': 140000},
             'decode': {'jpeg_decode': summary},
             'cases': {'raw_default_dds': {'frames_sent': 300, 'frames_received': 40,
                                           'frames_lost_in_transport': None,
                                           'delivered_fps': 4.0}}}
    text = '\n'.join(transport_lines(entry))
    assert 'JPEG quality 95 (71 KB against 900 KB raw)' in text
    row = next(line for line in text.splitlines() if line.startswith('raw_default_dds'))
    assert row.split() == ['raw_default_dds', '300', '40', '-', '4.0', '-']
