# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
The detection loss: which patches answer which object, focal loss on scores, L1 + GIoU on boxes.

Assignment is centre sampling: a patch is responsible for an object when the
patch centre lies in the central part of the object's box (``radius`` of its
half-extent, and always the patch holding the object's centre); a patch in two
such regions takes the smaller object. A responsible patch is a positive for
every query that refers to its object (a pair, its colour alone, its shape
alone) and a negative for every other query of the image; all other patches
are negatives for every query. Many positives per object teach faster than
one-to-one matching, and non-maximum suppression at inference removes the
duplicates.
"""

from dataclasses import dataclass

import torch
from torch import nn
import torch.nn.functional as F

from vlm_perception.model.boxes import cxcywh_to_xyxy


@dataclass
class LossWeights:
    """Weights and shape parameters of :func:`detection_loss`."""

    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    classification: float = 1.0
    box_l1: float = 5.0
    box_giou: float = 2.0
    radius: float = 0.5
    auxiliary: float = 0.0
    auxiliary_stem: bool = False
    composition: float = 0.0


def patch_centres(grid, device=None):
    """Centres of a (grid_h, grid_w) patch grid, (P, 2) x, y normalised, row-major."""
    grid_h, grid_w = grid
    ys = (torch.arange(grid_h, dtype=torch.float32, device=device) + 0.5) / grid_h
    xs = (torch.arange(grid_w, dtype=torch.float32, device=device) + 0.5) / grid_w
    yy, xx = torch.meshgrid(ys, xs, indexing='ij')
    return torch.stack((xx, yy), dim=-1).reshape(-1, 2)


def assign_patches(boxes, box_mask, grid, radius=0.5):
    """
    Centre sampling: the object each patch is responsible for.

    boxes (B, N, 4) cx, cy, w, h normalised; box_mask (B, N) bool; grid
    (grid_h, grid_w). Returns (B, P) int64: an object index, or -1 for
    background.
    """
    centres = patch_centres(grid, boxes.device)                          # (P, 2)
    half_patch = torch.tensor([0.5 / grid[1], 0.5 / grid[0]], device=boxes.device)
    reach = torch.maximum(boxes[..., 2:] * (radius / 2), half_patch)     # (B, N, 2)
    offset = (centres[None, :, None, :] - boxes[:, None, :, :2]).abs()   # (B, P, N, 2)
    inside = (offset <= reach[:, None]).all(-1) & box_mask[:, None, :]   # (B, P, N)
    area = boxes[..., 2] * boxes[..., 3]                                 # (B, N)
    area = torch.where(inside, area[:, None, :], torch.full_like(inside, 2.0, dtype=area.dtype))
    smallest = area.argmin(-1)
    return torch.where(inside.any(-1), smallest, torch.full_like(smallest, -1))


def generalized_iou(boxes_a, boxes_b):
    """Elementwise GIoU of (..., 4) and (..., 4) xyxy boxes: (...)."""
    area_a = (boxes_a[..., 2] - boxes_a[..., 0]) * (boxes_a[..., 3] - boxes_a[..., 1])
    area_b = (boxes_b[..., 2] - boxes_b[..., 0]) * (boxes_b[..., 3] - boxes_b[..., 1])
    top_left = torch.maximum(boxes_a[..., :2], boxes_b[..., :2])
    bottom_right = torch.minimum(boxes_a[..., 2:], boxes_b[..., 2:])
    inter = (bottom_right - top_left).clamp(min=0).prod(-1)
    union = area_a + area_b - inter
    iou = inter / union.clamp(min=1e-9)
    hull = (torch.maximum(boxes_a[..., 2:], boxes_b[..., 2:])
            - torch.minimum(boxes_a[..., :2], boxes_b[..., :2])).clamp(min=0).prod(-1)
    return iou - (hull - union) / hull.clamp(min=1e-9)


def sigmoid_focal_loss(logits, targets, alpha=0.25, gamma=2.0):
    """Elementwise focal loss (RetinaNet) of logits and {0, 1} float targets, same shapes."""
    probability = logits.sigmoid()
    cross_entropy = F.binary_cross_entropy_with_logits(logits, targets, reduction='none')
    p_t = probability * targets + (1 - probability) * (1 - targets)
    weight = alpha * targets + (1 - alpha) * (1 - targets)
    return weight * (1 - p_t) ** gamma * cross_entropy


def query_auc(logits, targets, mask):
    """
    How well scores tell the right queries from the wrong ones: the ROC AUC, a float.

    Over the entries where ``mask`` is True (e.g. patches that own an object,
    real queries), the chance that a positive entry of ``targets`` outscores a
    negative one; 0.5 is chance, 1.0 perfect, NaN without both kinds.
    """
    scores, labels = logits[mask], targets[mask] > 0
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if positives == 0 or negatives == 0:
        return float('nan')
    ranks = torch.empty_like(scores)
    ranks[scores.argsort()] = torch.arange(1, len(scores) + 1, dtype=scores.dtype,
                                           device=scores.device)
    rank_sum = float(ranks[labels].sum())
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def detection_loss(logits, pred_boxes, grid, batch, weights=LossWeights()):
    """
    Total loss and its parts for one batch.

    logits (B, P, Q) and pred_boxes (B, P, 4) (cx, cy, w, h normalised) from
    the model; grid its patch grid; batch a TrainingBatch (query_mask (B, Q),
    boxes (B, N, 4), box_mask (B, N), refers (B, Q, N)). Returns (loss, dict
    of float parts: 'classification', 'box_l1', 'box_giou', 'positives',
    'query_auc').
    """
    owner = assign_patches(batch.boxes, batch.box_mask, grid, weights.radius)   # (B, P)
    has_owner = owner >= 0
    refers = batch.refers.transpose(1, 2).float()                                # (B, N, Q)
    targets = torch.gather(refers, 1, owner.clamp(min=0)[..., None].expand(
        -1, -1, refers.shape[-1]))                                               # (B, P, Q)
    targets = targets * has_owner[..., None]
    query_mask = batch.query_mask[:, None, :].expand_as(logits)
    safe_logits = torch.where(query_mask, logits, torch.zeros_like(logits))
    focal = sigmoid_focal_loss(safe_logits, targets, weights.focal_alpha, weights.focal_gamma)
    num_positive = (targets * query_mask).sum().clamp(min=1.0)
    classification = (focal * query_mask).sum() / num_positive

    target_boxes = torch.gather(batch.boxes, 1, owner.clamp(min=0)[..., None].expand(-1, -1, 4))
    matched_pred, matched_target = pred_boxes[has_owner], target_boxes[has_owner]
    num_boxes = max(1, int(has_owner.sum()))
    box_l1 = (matched_pred - matched_target).abs().sum() / num_boxes
    box_giou = (1 - generalized_iou(cxcywh_to_xyxy(matched_pred),
                                    cxcywh_to_xyxy(matched_target))).sum() / num_boxes
    loss = (weights.classification * classification + weights.box_l1 * box_l1
            + weights.box_giou * box_giou)
    parts = {'classification': float(classification.detach()),
             'box_l1': float(box_l1.detach()), 'box_giou': float(box_giou.detach()),
             'positives': float(num_positive),
             'query_auc': query_auc(logits.detach(), targets, query_mask & has_owner[..., None])}
    return loss, parts


class AuxiliaryHeads(nn.Module):
    """
    Training-only probes: the colour and shape of each patch's object and of each phrase.

    Linear classifiers on the fused patch features (the class head's input)
    and on the query embeddings. Their losses tell the image side directly
    which shape a patch belongs to and the text side which words matter,
    instead of only through the patch-query scores; they are dropped after
    training, the model itself is unchanged.
    """

    def __init__(self, patch_dim, text_dim, num_colours, num_shapes, stem_dim=None):
        super().__init__()
        self.patch_colour = nn.Linear(patch_dim, num_colours)
        self.patch_shape = nn.Linear(patch_dim, num_shapes)
        # Optionally the same probes on the convolutional stem's tokens: the stem learns
        # shapes in a few hundred steps when told directly, far slower through the rest.
        self.stem_colour = nn.Linear(stem_dim, num_colours) if stem_dim else None
        self.stem_shape = nn.Linear(stem_dim, num_shapes) if stem_dim else None
        # One extra class each: 'not named' (a colour-only or shape-only phrase).
        self.text_colour = nn.Linear(text_dim, num_colours + 1)
        self.text_shape = nn.Linear(text_dim, num_shapes + 1)

    def forward(self, patch_features, text_embeds, grid, batch, radius=0.5, stem_features=None):
        """
        Return (patch loss, phrase loss, patch shape accuracy).

        The losses are the summed cross-entropies of each side's probes.
        patch_features (B, P, D_f); text_embeds (U, D_t), one row per phrase of
        ``batch`` (a TrainingBatch); stem_features (B, P, D_v) or None. Only
        patches responsible for an object (centre sampling as in the detection
        loss) are probed: background is the detection loss's business, and
        would drown the object patches.
        """
        owner = assign_patches(batch.boxes, batch.box_mask, grid, radius)          # (B, P)
        owned = owner >= 0
        labels = torch.gather(batch.object_labels, 1,
                              owner.clamp(min=0)[..., None].expand(-1, -1, 2))[owned]  # (K, 2)
        features = patch_features[owned]                                           # (K, D_f)
        shape_logits = self.patch_shape(features)
        patch_loss = (F.cross_entropy(self.patch_colour(features), labels[:, 0])
                      + F.cross_entropy(shape_logits, labels[:, 1]))
        accuracy = float((shape_logits.argmax(-1) == labels[:, 1]).float().mean())
        if stem_features is not None and self.stem_shape is not None:
            stem = stem_features[owned]
            patch_loss = patch_loss + (F.cross_entropy(self.stem_colour(stem), labels[:, 0])
                                       + F.cross_entropy(self.stem_shape(stem), labels[:, 1]))
        # Query embeddings are unit vectors: scale them like LayerNorm outputs (norm
        # sqrt(D)), else the probes' logits stay tiny and their loss never falls.
        text = text_embeds * text_embeds.shape[-1] ** 0.5
        text_loss = (F.cross_entropy(self.text_colour(text), batch.phrase_labels[:, 0])
                     + F.cross_entropy(self.text_shape(text), batch.phrase_labels[:, 1]))
        return patch_loss, text_loss, accuracy


def composition_loss(text_embeds, phrase_labels, num_colours, num_shapes):
    """
    Pull each pair phrase's embedding towards its colour's plus its shape's.

    text_embeds (U, D) L2-normalised, one per phrase; phrase_labels (U, 2)
    colour and shape index, num_colours / num_shapes for 'not named'. The
    colour's (shape's) embedding is the mean over this batch's colour-only
    (shape-only) phrases of it. Returns the mean of 1 - cos(pair, normalised
    sum) over pair phrases whose colour and shape were both said alone; 0 if
    none. Pairs said this way compose, so a pair never trained on (a held-out
    one) lands where its words put it.
    """
    colours, shapes = phrase_labels[:, 0], phrase_labels[:, 1]
    colour_only = (colours < num_colours) & (shapes == num_shapes)
    shape_only = (colours == num_colours) & (shapes < num_shapes)
    pair = (colours < num_colours) & (shapes < num_shapes)

    def means(mask, index, count):
        sums = text_embeds.new_zeros(count, text_embeds.shape[1]).index_add(
            0, index[mask], text_embeds[mask])
        seen = torch.zeros(count, dtype=torch.bool, device=text_embeds.device)
        seen[index[mask]] = True
        return sums, seen

    colour_sum, colour_seen = means(colour_only, colours, num_colours)
    shape_sum, shape_seen = means(shape_only, shapes, num_shapes)
    usable = pair & colour_seen[colours.clamp(max=num_colours - 1)] & shape_seen[
        shapes.clamp(max=num_shapes - 1)]
    if not usable.any():
        return text_embeds.sum() * 0.0
    target = (F.normalize(colour_sum[colours[usable]], dim=-1)
              + F.normalize(shape_sum[shapes[usable]], dim=-1))
    return (1 - F.cosine_similarity(text_embeds[usable], target, dim=-1)).mean()
