# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
Box helpers in torch: format conversion, IoU, per-patch box bias and batched NMS.

No torchvision: NMS is written with tensor operations so it runs on any device without
a Python loop over boxes.
"""

import torch


def cxcywh_to_xyxy(boxes):
    """Map (..., 4) cx, cy, w, h to (..., 4) x_min, y_min, x_max, y_max."""
    cx, cy, w, h = boxes.unbind(-1)
    return torch.stack((cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h), dim=-1)


def box_iou(boxes1, boxes2):
    """Return the IoU of (N, 4) and (M, 4) xyxy boxes: (N, M); 0 where the union is empty."""
    area1 = (boxes1[:, 2] - boxes1[:, 0]).clamp(min=0) * (boxes1[:, 3] - boxes1[:, 1]).clamp(min=0)
    area2 = (boxes2[:, 2] - boxes2[:, 0]).clamp(min=0) * (boxes2[:, 3] - boxes2[:, 1]).clamp(min=0)
    top_left = torch.maximum(boxes1[:, None, :2], boxes2[None, :, :2])
    bottom_right = torch.minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])
    inter = (bottom_right - top_left).clamp(min=0).prod(-1)
    union = area1[:, None] + area2[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(inter))


def box_bias(grid_h, grid_w, centre_offset=0.5, device=None):
    """
    OWL-ViT's box bias for a grid_h x grid_w patch grid: (grid_h * grid_w, 4), row-major.

    The logit (inverse sigmoid) of each patch's position and of one patch's size, so a
    zero box-head output decodes to a patch-sized box at that patch. ``centre_offset`` 0.5
    puts it at the patch centre (native model); OWL-ViT/OWLv2 use 1.0 (the patch's
    bottom-right corner), kept here so their outputs match transformers exactly.
    """
    xs = (torch.arange(grid_w, dtype=torch.float32, device=device) + centre_offset) / grid_w
    ys = (torch.arange(grid_h, dtype=torch.float32, device=device) + centre_offset) / grid_h
    yy, xx = torch.meshgrid(ys, xs, indexing='ij')
    centres = torch.stack((xx, yy), dim=-1).reshape(-1, 2).clamp(0.0, 1.0)
    sizes = torch.tensor([1.0 / grid_w, 1.0 / grid_h], device=device).expand_as(centres)

    def logit(x):
        return torch.log(x + 1e-4) - torch.log1p(-x + 1e-4)

    return torch.cat((logit(centres), logit(sizes)), dim=-1)


def batched_nms(boxes, scores, labels, iou_threshold):
    """
    Greedy non-maximum suppression within each label, without a loop over boxes.

    boxes: (K, 4) xyxy, scores: (K,), labels: (K,) int. Returns a (K,) bool keep mask equal
    to classic greedy NMS (a box is dropped when a kept, higher-scoring box of the same label
    overlaps it by IoU > iou_threshold). Greedy NMS is the fixed point of "keep the boxes no
    kept box suppresses"; iterating that from "keep all" reaches it in as many steps as the
    longest chain of suppressions (usually two or three). iou_threshold >= 1 disables NMS.
    """
    count = boxes.shape[0]
    keep = torch.ones(count, dtype=torch.bool, device=boxes.device)
    if count < 2 or iou_threshold >= 1.0:
        return keep
    order = torch.argsort(scores, descending=True)
    sorted_boxes, sorted_labels = boxes[order], labels[order]
    rank = torch.arange(count, device=boxes.device)
    # suppresses[j, i]: box j (higher score) would suppress box i.
    suppresses = ((box_iou(sorted_boxes, sorted_boxes) > iou_threshold)
                  & (sorted_labels[:, None] == sorted_labels[None, :])
                  & (rank[:, None] < rank[None, :]))
    sorted_keep = keep
    for _ in range(count):
        new_keep = ~(suppresses & sorted_keep[:, None]).any(0)
        if torch.equal(new_keep, sorted_keep):
            break
        sorted_keep = new_keep
    return torch.empty_like(sorted_keep).scatter_(0, order, sorted_keep)
