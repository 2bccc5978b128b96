# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""The detection loss: centre-sampling assignment, focal loss, GIoU and the total."""

import math
from types import SimpleNamespace

import pytest
import torch
from vlm_perception.training.loss import (assign_patches, AuxiliaryHeads, composition_loss,
                                          detection_loss, generalized_iou, patch_centres,
                                          query_auc, sigmoid_focal_loss)


def test_patch_centres_are_row_major():
    centres = patch_centres((2, 4))
    assert centres.shape == (8, 2)
    torch.testing.assert_close(centres[0], torch.tensor([0.125, 0.25]))
    torch.testing.assert_close(centres[5], torch.tensor([0.375, 0.75]))


def test_assignment_takes_the_centre_region_and_the_smaller_object():
    grid = (4, 4)  # patch centres at 0.125, 0.375, 0.625, 0.875
    boxes = torch.tensor([[[0.5, 0.5, 1.0, 1.0],       # whole image: centre region 0.25..0.75
                           [0.375, 0.375, 0.3, 0.3],   # small, on patch (1, 1)
                           [0.9, 0.9, 0.1, 0.1]]])     # masked out
    owner = assign_patches(boxes, torch.tensor([[True, True, False]]), grid, radius=0.5)
    owner = owner.view(4, 4)
    assert owner[1, 1] == 1                      # both regions: the smaller object wins
    assert owner[1, 2] == 0 and owner[2, 2] == 0
    assert owner[0, 0] == -1 and owner[3, 3] == -1  # outside the central half; box 2 masked


def test_tiny_object_still_gets_the_patch_holding_its_centre():
    boxes = torch.tensor([[[0.30, 0.60, 0.02, 0.02]]])
    owner = assign_patches(boxes, torch.tensor([[True]]), (4, 4), radius=0.5).view(4, 4)
    assert owner[2, 1] == 0 and int((owner == 0).sum()) == 1


def test_generalized_iou_known_values():
    a = torch.tensor([0.0, 0.0, 2.0, 2.0])
    assert float(generalized_iou(a, a)) == pytest.approx(1.0)
    half = torch.tensor([1.0, 0.0, 3.0, 2.0])
    assert float(generalized_iou(a, half)) == pytest.approx(1 / 3)
    far = torch.tensor([4.0, 0.0, 6.0, 2.0])   # IoU 0, hull 12, union 8
    assert float(generalized_iou(a, far)) == pytest.approx(-4 / 12)


def test_focal_loss_rewards_confident_right_answers():
    targets = torch.tensor([1.0, 0.0])
    right = sigmoid_focal_loss(torch.tensor([4.0, -4.0]), targets)
    wrong = sigmoid_focal_loss(torch.tensor([-4.0, 4.0]), targets)
    assert (right < wrong / 100).all()
    # gamma 0, alpha 0.5: half the binary cross-entropy.
    logits = torch.tensor([0.3, -1.2])
    expected = 0.5 * torch.nn.functional.binary_cross_entropy_with_logits(
        logits, targets, reduction='none')
    torch.testing.assert_close(sigmoid_focal_loss(logits, targets, 0.5, 0.0), expected)


def _batch():
    # One image, a 2x2 grid, one object filling the top-left patch; queries 0 (refers) and 1.
    return SimpleNamespace(
        boxes=torch.tensor([[[0.25, 0.25, 0.5, 0.5]]]),
        box_mask=torch.tensor([[True]]),
        query_mask=torch.tensor([[True, True, False]]),
        refers=torch.tensor([[[True], [False], [False]]]))


def test_right_answers_cost_little_and_padding_is_ignored():
    batch = _batch()
    padded = torch.finfo(torch.float32).min
    good_logits = torch.tensor([[[6.0, -6.0, padded], [-6.0, -6.0, padded],
                                 [-6.0, -6.0, padded], [-6.0, -6.0, padded]]])
    boxes = torch.tensor([[[0.25, 0.25, 0.5, 0.5]] * 4])
    good, parts = detection_loss(good_logits, boxes, (2, 2), batch)
    assert parts['positives'] == 1.0 and parts['box_l1'] == pytest.approx(0.0)
    assert torch.isfinite(good) and float(good) < 0.01
    bad_logits = good_logits.clone()
    bad_logits[0, 0, :2] = torch.tensor([-6.0, 6.0])  # wrong query fires on the object
    bad_boxes = boxes + 0.1
    bad, _ = detection_loss(bad_logits, bad_boxes, (2, 2), batch)
    assert float(bad) > 1.0


def test_gradients_reach_scores_and_boxes():
    batch = _batch()
    logits = torch.zeros(1, 4, 3, requires_grad=True)
    boxes = torch.full((1, 4, 4), 0.5, requires_grad=True)
    loss, _ = detection_loss(logits, boxes, (2, 2), batch)
    loss.backward()
    assert logits.grad[0, :, :2].abs().sum() > 0 and logits.grad[0, :, 2].abs().sum() == 0
    assert boxes.grad[0, 0].abs().sum() > 0 and boxes.grad[0, 1:].abs().sum() == 0


def test_query_auc_counts_correctly_ordered_pairs():
    targets = torch.tensor([1.0, 0.0, 1.0, 0.0])
    mask = torch.ones(4, dtype=torch.bool)
    assert query_auc(torch.tensor([0.9, 0.1, 0.8, 0.2]), targets, mask) == pytest.approx(1.0)
    assert query_auc(torch.tensor([0.9, 0.85, 0.1, 0.2]), targets, mask) == pytest.approx(0.5)
    assert math.isnan(query_auc(torch.tensor([0.9, 0.1]), torch.ones(2), mask[:2]))


def test_auxiliary_probes_learn_patch_and_phrase_labels():
    torch.manual_seed(0)
    batch = _batch()
    # Object 0 is colour 2, shape 4; phrases: 'red circle'-like (0, 0) and shape-only (8, 1).
    batch.object_labels = torch.tensor([[[2, 4]]])
    batch.phrase_labels = torch.tensor([[0, 0], [8, 1]])
    heads = AuxiliaryHeads(patch_dim=6, text_dim=5, num_colours=8, num_shapes=5)
    patches = torch.randn(1, 4, 6)
    text = torch.randn(2, 5)
    optimizer = torch.optim.SGD(heads.parameters(), lr=0.5)
    first = float(sum(heads(patches, text, (2, 2), batch)[:2]).detach())
    for _ in range(100):
        optimizer.zero_grad()
        patch_loss, text_loss, accuracy = heads(patches, text, (2, 2), batch)
        loss = patch_loss + text_loss
        loss.backward()
        optimizer.step()
    assert float(loss.detach()) < first / 5
    with torch.no_grad():
        assert heads.patch_colour(patches[0, 0]).argmax() == 2      # the object's patch
        assert heads.patch_shape(patches[0, 0]).argmax() == 4
        assert heads.text_colour(text[1] * 5 ** 0.5).argmax() == 8  # colour not named
    assert accuracy == 1.0


def test_composition_loss_is_zero_for_composed_pairs_only():
    red, circle = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0])
    composed = (red + circle) / 2 ** 0.5
    other = torch.tensor([0.0, 0.0, 1.0])
    labels = torch.tensor([[0, 2], [3, 0], [0, 0]])  # 'red', 'circle', 'red circle'
    embeds = torch.stack([red, circle, composed])
    assert float(composition_loss(embeds, labels, 3, 2)) == pytest.approx(0.0, abs=1e-6)
    wrong = torch.stack([red, circle, other])
    assert float(composition_loss(wrong, labels, 3, 2)) == pytest.approx(1.0)
    # A pair whose colour was never said alone in the batch is left out.
    assert float(composition_loss(wrong[1:], labels[1:], 3, 2)) == 0.0
