# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""Training batches: query choice, determinism, targets that match the world's truth."""

import numpy as np
import torch
from vlm_perception.model import VLMConfig, VLMForDetection
from vlm_perception.training.data import (batch_stream, BatchMaker, collate, sample_queries,
                                          world_targets)
from vlm_perception.world import COLOURS, HELD_OUT_PAIRS, parse_phrase, SceneObject, SHAPES
from vlm_perception.world.vocabulary import all_pairs

SIZES = [[320, 240], [424, 240]]


def test_present_targets_first_then_hard_negatives():
    objects = [SceneObject('red', 'circle', (0, 0, 1, 1))]
    targets = world_targets(all_pairs())
    assert len(targets) == 40 + 8 + 5
    rng = np.random.default_rng(0)
    chosen = sample_queries(rng, objects, targets, budget=12)
    assert len(chosen) == 12
    present = {('red', 'circle'), ('red', None), (None, 'circle')}
    assert present <= set(chosen)
    # The rest share a colour or a shape with the red circle: hard negatives.
    assert all(t.colour == 'red' or t.shape == 'circle' for t in chosen)
    assert len(sample_queries(rng, objects, targets, budget=100)) == len(targets)


def test_batches_are_deterministic_and_never_name_held_out_pairs():
    maker = BatchMaker(seed=4, batch_size=3, queries_per_image=60, sizes=SIZES,
                       held_out=HELD_OUT_PAIRS)
    first, again = maker(5), maker(5)
    assert [a.phrases for a in first] == [a.phrases for a in again]
    assert all(np.array_equal(a.scene.image, b.scene.image) for a, b in zip(first, again))
    assert [a.phrases for a in maker(6)] != [a.phrases for a in first]
    held_out = set(HELD_OUT_PAIRS)
    for number in range(4):
        for item in maker(number):
            assert len({a.scene.image.shape for a in maker(number)}) == 1
            assert len(item.phrases) == 35 + 8 + 5  # every target training may name
            assert not any(tuple(parse_phrase(p)) in held_out for p in item.phrases)


def test_collate_builds_targets_that_match_the_scenes():
    model = VLMForDetection(VLMConfig.tiny())
    maker = BatchMaker(seed=1, batch_size=2, queries_per_image=10, sizes=SIZES,
                       held_out=HELD_OUT_PAIRS)
    asked = maker(0)
    batch = collate(model, asked)
    height = model.input_geometry(*asked[0].scene.image.shape[:2]).input_height
    assert batch.pixel_values.shape[:2] == (2, 3) and batch.pixel_values.shape[2] == height
    assert batch.query_mask.sum() == sum(len(a.phrases) for a in asked)
    for b, item in enumerate(asked):
        for q, phrase in enumerate(item.phrases):
            assert batch.phrases[batch.query_index[b, q]] == phrase
            expected = item.scene.referred(phrase)
            got = torch.nonzero(batch.refers[b, q]).flatten().tolist()
            assert got == expected
            colour, shape = batch.phrase_labels[batch.query_index[b, q]].tolist()
            target = parse_phrase(phrase)
            assert colour == (list(COLOURS).index(target.colour) if target.colour else 8)
            assert shape == (SHAPES.index(target.shape) if target.shape else 5)
        for n, obj in enumerate(item.scene.objects):
            assert batch.object_labels[b, n].tolist() == [list(COLOURS).index(obj.colour),
                                                          SHAPES.index(obj.shape)]
        count = len(item.scene.objects)
        assert batch.box_mask[b].sum() == count
        boxes = batch.boxes[b, :count]
        assert (boxes[:, :2] > 0).all() and (boxes[:, :2] < 1).all() and (boxes[:, 2:] > 0).all()


def test_worker_processes_give_the_same_batches_in_order():
    maker = BatchMaker(seed=2, batch_size=2, queries_per_image=6, sizes=SIZES,
                       held_out=HELD_OUT_PAIRS)
    inline = [[a.phrases for a in asked] for asked in batch_stream(maker, 3, 7)]
    workers = [[a.phrases for a in asked] for asked in batch_stream(maker, 3, 7, workers=2)]
    assert inline == workers and len(inline) == 4
