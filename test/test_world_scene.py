# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""The tabletop world: determinism, sizes, objects, held-out pairs and exact boxes."""

import math

import numpy as np
import pytest
from vlm_perception.world import COLOURS, HELD_OUT_PAIRS, SceneGenerator, SHAPES
from vlm_perception.world.render import _polygon_alpha, shape_outline
from vlm_perception.world.scene import _overlap, DEFAULT_SIZES, MAX_OVERLAP


def test_same_seed_and_index_give_the_same_scene():
    first, second = SceneGenerator(seed=3), SceneGenerator(seed=3)
    in_order = [first.generate() for _ in range(4)]
    assert np.array_equal(in_order[2].image, second.generate(2).image)
    assert in_order[2].objects == second.generate(2).objects
    # generate() continues after the last index asked for.
    assert second.generate().index == 3
    assert np.array_equal(second.generate(3).image, in_order[3].image)


def test_seeds_and_splits_give_different_scenes():
    base = SceneGenerator(seed=0).generate(0)
    assert not np.array_equal(base.image, SceneGenerator(seed=1).generate(0).image)
    assert not np.array_equal(base.image, SceneGenerator(seed=0, split='eval').generate(0).image)


def test_scenes_have_valid_images_and_objects():
    gen = SceneGenerator(seed=5)
    seen_sizes, counts = set(), set()
    for index in range(60):
        scene = gen.generate(index)
        height, width = scene.image.shape[:2]
        assert scene.image.dtype == np.uint8 and scene.image.shape[2] == 3
        assert (width, height) in DEFAULT_SIZES
        seen_sizes.add((width, height))
        counts.add(len(scene.objects))
        assert 1 <= len(scene.objects) <= 6
        for obj in scene.objects:
            assert obj.colour in COLOURS and obj.shape in SHAPES
            assert obj.name == f'{obj.colour} {obj.shape}'
            x0, y0, x1, y1 = obj.box
            assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
        for i, a in enumerate(scene.objects):
            for b in scene.objects[i + 1:]:
                assert _overlap(a.box, b.box) <= MAX_OVERLAP + 1e-9
    assert (320, 240) in seen_sizes and (640, 480) in seen_sizes
    assert len({round(w / h, 2) for w, h in seen_sizes}) >= 3  # several aspect ratios
    assert len(counts) >= 4


def test_object_sizes_range_from_small_to_large():
    gen = SceneGenerator(seed=2, sizes=((320, 240),))
    extents = [max(o.box[2] - o.box[0], o.box[3] - o.box[1]) / 240
               for i in range(80) for o in gen.generate(i).objects]
    assert min(extents) < 0.15 and max(extents) > 0.3


def test_training_split_never_shows_held_out_pairs_and_eval_does():
    held_out = set(HELD_OUT_PAIRS)
    train = SceneGenerator(seed=0, split='train')
    assert not any((o.colour, o.shape) in held_out
                   for i in range(150) for o in train.generate(i).objects)
    evaluation = SceneGenerator(seed=0, split='eval')
    assert any((o.colour, o.shape) in held_out
               for i in range(150) for o in evaluation.generate(i).objects)


def test_unknown_split_is_refused():
    with pytest.raises(ValueError):
        SceneGenerator(split='test')


def test_scene_referred_follows_colour_and_shape():
    scene = SceneGenerator(seed=0).generate(0)
    for index, obj in enumerate(scene.objects):
        assert index in scene.referred(f'pick up the {obj.colour} {obj.shape}')
        assert index in scene.referred(f'something {obj.colour}')
        assert index in scene.referred(f'the {obj.shape}')
    assert scene.referred('the thing') == []


@pytest.mark.parametrize('shape', SHAPES)
@pytest.mark.parametrize('angle', [0.0, 0.7])
def test_boxes_are_tight_around_drawn_pixels(shape, angle):
    # Drawn coverage reaches the box's edge pixels and never leaves the box.
    points = shape_outline(shape, (40.3, 37.8), 50.0, angle, 0.85)
    x0, y0 = points.min(axis=0)
    x1, y1 = points.max(axis=0)
    alpha = _polygon_alpha(points, 0, 0, 100, 90)
    rows = np.nonzero(alpha.max(axis=1) > 0)[0]
    cols = np.nonzero(alpha.max(axis=0) > 0)[0]
    assert math.floor(x0) <= cols[0] <= math.floor(x0) + 1
    assert math.ceil(x1) - 2 <= cols[-1] <= math.ceil(x1)
    assert math.floor(y0) <= rows[0] <= math.floor(y0) + 1
    assert math.ceil(y1) - 2 <= rows[-1] <= math.ceil(y1)


def test_axis_aligned_square_fills_exactly_its_box():
    points = shape_outline('square', (30.0, 20.0), 20.0 / 0.85, 0.0, 1.0)  # box 20..40, 10..30
    np.testing.assert_allclose(points.min(axis=0), [20.0, 10.0])
    np.testing.assert_allclose(points.max(axis=0), [40.0, 30.0])
    alpha = _polygon_alpha(points, 0, 0, 60, 40)
    assert alpha[10:30, 20:40].min() == 1.0
    # Outside, at most the quarter pixel the 4x fill may round over.
    outside = alpha.copy()
    outside[10:30, 20:40] = 0.0
    assert outside.max() <= 0.26
