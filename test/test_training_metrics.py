# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""Detection metrics: IoU, greedy matching and COCO-style AP on hand-checked cases."""

import math

import numpy as np
import pytest
from vlm_perception.training.metrics import (average_precision, class_ap, iou_matrix,
                                             match_detections, match_ground_truth, mean_ap,
                                             recall_at, Record)

BOX = [0.0, 0.0, 10.0, 10.0]


def test_iou_matrix_known_values():
    ious = iou_matrix([BOX], [BOX, [5.0, 0.0, 15.0, 10.0], [20.0, 20.0, 30.0, 30.0],
                              [0.0, 0.0, 0.0, 0.0]])
    np.testing.assert_allclose(ious, [[1.0, 50.0 / 150.0, 0.0, 0.0]])


def test_matching_is_greedy_by_score_and_one_to_one():
    boxes = np.array([BOX, BOX, [1.0, 1.0, 11.0, 11.0]])
    hits = match_detections(boxes, [0.5, 0.9, 0.7], np.array([BOX]), 0.5)
    assert hits.tolist() == [False, True, False]  # best score takes it; duplicates are FP
    assert not match_detections(boxes, [0.5, 0.9, 0.7], np.zeros((0, 4)), 0.5).any()
    # A loose box passes at 0.5 but not at 0.9.
    loose = np.array([[0.0, 0.0, 10.0, 14.0]])
    assert match_detections(loose, [1.0], np.array([BOX]), 0.5).all()
    assert not match_detections(loose, [1.0], np.array([BOX]), 0.9).any()


def test_matching_says_which_ground_truth_each_detection_took():
    far = [20.0, 20.0, 30.0, 30.0]
    boxes = np.array([far, BOX, [0.0, 0.0, 10.0, 11.0], [50.0, 50.0, 60.0, 60.0]])
    matched = match_ground_truth(boxes, [0.3, 0.9, 0.8, 0.7], np.array([BOX, far]), 0.5)
    assert matched.tolist() == [1, 0, -1, -1]
    assert match_ground_truth(np.zeros((0, 4)), [], np.array([BOX]), 0.5).shape == (0,)


def test_average_precision_hand_computed():
    assert average_precision([0.9, 0.8], [True, True], 2) == pytest.approx(1.0)
    assert average_precision([0.9], [False], 1) == pytest.approx(0.0)
    assert average_precision([], [], 3) == 0.0
    # TP, FP, TP over 2 GT: precision 1 up to recall 0.5 (51 points), then 2/3 (50 points).
    expected = (51 + 50 * 2.0 / 3.0) / 101
    assert average_precision([0.9, 0.8, 0.7], [True, False, True], 2) == pytest.approx(expected)
    # Half the ground truth never found: AP is about half.
    assert average_precision([0.9], [True], 2) == pytest.approx(51 / 101)
    assert math.isnan(average_precision([0.9], [False], 0))


def test_class_ap_pools_records_and_counts_absent_query_detections_as_false():
    hit = Record(np.array([BOX]), np.array([0.9]), np.array([BOX]))
    # A confident detection for a query whose object is absent ranks above the hit.
    false_alarm = Record(np.array([BOX]), np.array([0.95]), np.zeros((0, 4)))
    assert class_ap([hit], 0.5) == pytest.approx(1.0)
    assert class_ap([hit, false_alarm], 0.5) == pytest.approx(0.5)


def test_mean_ap_skips_classes_without_ground_truth():
    hit = Record(np.array([BOX]), np.array([0.9]), np.array([BOX]))
    miss = Record(np.zeros((0, 4)), np.zeros(0), np.array([BOX]))
    empty = Record(np.array([BOX]), np.array([0.3]), np.zeros((0, 4)))
    mean, per_class = mean_ap({'a': [hit], 'b': [miss], 'c': [empty]}, (0.5, 0.75))
    assert per_class == {'a': 1.0, 'b': 0.0}
    assert mean == pytest.approx(0.5)
    assert recall_at([hit, miss]) == pytest.approx(0.5)
