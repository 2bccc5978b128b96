# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
Detection metrics: IoU, greedy matching and COCO-style average precision, on numpy arrays.

A "record" is one query asked of one image: the detections returned for it
(boxes and scores) and the ground-truth boxes it refers to (possibly none).
Average precision pools the records of one class (e.g. every query that asked
for a red circle), ranks their detections by score and integrates precision
over recall at 101 points, as COCO does.
"""

from typing import List, NamedTuple

import numpy as np
import torch

from vlm_perception.model.boxes import box_iou

IOU_THRESHOLDS = tuple(np.round(np.arange(0.5, 0.96, 0.05), 2))
RECALL_POINTS = np.linspace(0.0, 1.0, 101)


class Record(NamedTuple):
    """Detections for one (image, query) and the ground truth the query refers to."""

    boxes: np.ndarray      # (N, 4) x_min, y_min, x_max, y_max
    scores: np.ndarray     # (N,)
    gt_boxes: np.ndarray   # (G, 4) x_min, y_min, x_max, y_max


def iou_matrix(boxes_a, boxes_b):
    """Return the IoU of (N, 4) and (M, 4) xyxy boxes: (N, M) float64; 0 where a union is empty."""
    a = torch.as_tensor(np.asarray(boxes_a, np.float64).reshape(-1, 4))
    b = torch.as_tensor(np.asarray(boxes_b, np.float64).reshape(-1, 4))
    return box_iou(a, b).numpy()


def match_detections(boxes, scores, gt_boxes, iou_threshold):
    """
    Greedily match detections to ground truth, highest score first.

    Each detection takes the unmatched ground-truth box it overlaps most, if
    that IoU is at least ``iou_threshold``. Returns (N,) bool: True for a true
    positive, in the order of ``boxes``.
    """
    return match_ground_truth(boxes, scores, gt_boxes, iou_threshold) >= 0


def match_ground_truth(boxes, scores, gt_boxes, iou_threshold):
    """
    Match as :func:`match_detections` does; return which ground truth each detection took.

    Returns (N,) int64: the index into ``gt_boxes`` of each true positive, -1 for
    the others, in the order of ``boxes``.
    """
    scores = np.asarray(scores, np.float64).reshape(-1)
    matched = np.full(len(scores), -1, np.int64)
    if len(scores) == 0 or len(gt_boxes) == 0:
        return matched
    ious = iou_matrix(boxes, gt_boxes)
    taken = np.zeros(ious.shape[1], bool)
    for det in np.argsort(-scores, kind='stable'):
        candidates = np.where(taken, -1.0, ious[det])
        best = int(np.argmax(candidates))
        if candidates[best] >= iou_threshold:
            taken[best] = True
            matched[det] = best
    return matched


def average_precision(scores, true_positive, num_gt):
    """
    COCO-style AP: precision made monotone, sampled at 101 recall points.

    scores: (N,) of every detection of a class; true_positive: (N,) bool;
    num_gt: ground-truth count of the class. NaN when num_gt is 0 (undefined).
    """
    if num_gt == 0:
        return float('nan')
    order = np.argsort(-np.asarray(scores, np.float64), kind='stable')
    hits = np.asarray(true_positive, bool)[order]
    tp = np.cumsum(hits)
    fp = np.cumsum(~hits)
    recall = tp / num_gt
    precision = tp / np.maximum(tp + fp, 1)
    if not len(precision):
        return 0.0
    # Best precision at any recall at least r: the envelope, right to left.
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    index = np.searchsorted(recall, RECALL_POINTS, side='left')
    sampled = np.zeros(len(RECALL_POINTS))
    reached = index < len(envelope)
    sampled[reached] = envelope[index[reached]]
    return float(np.mean(sampled))


def class_ap(records: List[Record], iou_threshold):
    """AP at one IoU threshold over all records of one class."""
    scores, hits, num_gt = [], [], 0
    for record in records:
        scores.append(np.asarray(record.scores, np.float64).reshape(-1))
        hits.append(match_detections(record.boxes, record.scores, record.gt_boxes, iou_threshold))
        num_gt += len(record.gt_boxes)
    if not records:
        return float('nan')
    return average_precision(np.concatenate(scores), np.concatenate(hits), num_gt)


def mean_ap(records_by_class, iou_thresholds=(0.5,)):
    """
    Mean over classes (and over ``iou_thresholds``) of AP; classes without ground truth skipped.

    records_by_class: dict class name -> list of :class:`Record`. Returns
    (mean AP, dict class name -> AP averaged over the thresholds). The mean is
    NaN when no class has ground truth.
    """
    per_class = {}
    for name, records in records_by_class.items():
        values = [class_ap(records, t) for t in iou_thresholds]
        if not np.isnan(values[0]):
            per_class[name] = float(np.mean(values))
    mean = float(np.mean(list(per_class.values()))) if per_class else float('nan')
    return mean, per_class


def recall_at(records: List[Record], iou_threshold=0.5):
    """Fraction of ground-truth boxes found (matched) by the records' detections; NaN if none."""
    found = total = 0
    for record in records:
        found += int(match_detections(record.boxes, record.scores, record.gt_boxes,
                                      iou_threshold).sum())
        total += len(record.gt_boxes)
    return found / total if total else float('nan')
