# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
Seeded generator of tabletop scenes: an image, its objects, their names and exact boxes.

Scene ``index`` of a generator depends only on (seed, split, index), so scenes
can be made in any order, in parallel, or one at a time by a camera node, and
are the same every time.
"""

from dataclasses import dataclass
import math
from typing import List, Tuple

import numpy as np

from vlm_perception.world.commands import parse_phrase
from vlm_perception.world.render import apply_camera, draw_background, draw_light, draw_object
from vlm_perception.world.render import outline_box, sample_colour, shape_outline
from vlm_perception.world.vocabulary import all_pairs, HELD_OUT_PAIRS, pair_name

# (width, height): 4:3, 16:9, 3:2 and square frames from 320x240 to 640x480.
DEFAULT_SIZES = ((320, 240), (400, 300), (480, 360), (512, 384), (640, 480),
                 (424, 240), (640, 360), (480, 320), (320, 320), (480, 480))
SPLITS = ('train', 'eval')
# Objects may touch or overlap a little: the shared area of two boxes may be
# at most this fraction of the smaller box.
MAX_OVERLAP = 0.15
# Nominal object diameter as a fraction of the image's shorter side.
SIZE_RANGE = (0.10, 0.38)


@dataclass(frozen=True)
class SceneObject:
    """One object on the table: its colour, shape and exact box (x0, y0, x1, y1) in pixels."""

    colour: str
    shape: str
    box: Tuple[float, float, float, float]

    @property
    def name(self):
        """Return the object's name, e.g. ``'red circle'``."""
        return pair_name(self.colour, self.shape)


@dataclass(frozen=True)
class Scene:
    """A generated frame: ``image`` (H, W, 3) uint8 RGB and its ``objects`` in drawing order."""

    image: np.ndarray
    objects: List[SceneObject]
    index: int

    def referred(self, phrase):
        """
        Return the indices of the objects a query phrase refers to.

        ``'red circle'`` -> every red circle; ``'something purple'`` -> every
        purple object; ``'the triangle'`` -> every triangle.
        """
        target = parse_phrase(phrase)
        return [i for i, obj in enumerate(self.objects) if target.matches(obj.colour, obj.shape)]


def _overlap(box_a, box_b):
    """Shared area of two boxes as a fraction of the smaller one."""
    width = min(box_a[2], box_b[2]) - max(box_a[0], box_b[0])
    height = min(box_a[3], box_b[3]) - max(box_a[1], box_b[1])
    if width <= 0 or height <= 0:
        return 0.0
    area_a = (box_a[2] - box_a[0]) * (box_a[3] - box_a[1])
    area_b = (box_b[2] - box_b[0]) * (box_b[3] - box_b[1])
    return width * height / min(area_a, area_b)


class SceneGenerator:
    """
    Procedural tabletop scenes, seeded and deterministic.

    ``sizes``: the (width, height) frames to draw from, one picked per scene.
    ``split='train'`` never shows a pair in ``held_out``; ``split='eval'``
    draws from every colour-shape pair alike and from its own random stream,
    so the same seed gives different scenes per split.
    ``max_objects``: at most this many objects (at least one) per scene.
    """

    def __init__(self, seed=0, sizes=DEFAULT_SIZES, held_out=HELD_OUT_PAIRS, split='train',
                 max_objects=6):
        if split not in SPLITS:
            raise ValueError(f'split must be one of {SPLITS}, not {split!r}')
        if not sizes:
            raise ValueError('sizes must name at least one (width, height)')
        self.seed = int(seed)
        self.sizes = tuple((int(w), int(h)) for w, h in sizes)
        self.split = split
        self.held_out = tuple(tuple(pair) for pair in held_out)
        excluded = set(self.held_out) if split == 'train' else set()
        self.pairs = [pair for pair in all_pairs() if pair not in excluded]
        self.max_objects = int(max_objects)
        self._next_index = 0

    def generate(self, index=None):
        """Return scene ``index``, or the next one after the last generated when None."""
        if index is None:
            index = self._next_index
        index = int(index)
        self._next_index = index + 1
        rng = np.random.default_rng([self.seed, SPLITS.index(self.split), index])
        width, height = self.sizes[int(rng.integers(len(self.sizes)))]
        light = draw_light(rng, height, width)
        gains = rng.uniform(0.9, 1.1, 3).astype(np.float32)  # white balance
        image = draw_background(rng, height, width, light, gains)
        light_angle = rng.uniform(0, 2 * math.pi)
        light_dir = (math.cos(light_angle), math.sin(light_angle))
        squash = rng.uniform(0.75, 1.0)
        objects = []
        for _ in range(int(rng.integers(1, self.max_objects + 1))):
            colour, shape = self.pairs[int(rng.integers(len(self.pairs)))]
            points = self._place(rng, shape, width, height, squash, objects)
            if points is None:
                continue
            draw_object(image, rng, points, sample_colour(rng, colour) * gains, light_dir, light)
            objects.append(SceneObject(colour, shape, outline_box(points)))
        return Scene(apply_camera(image, rng), objects, index)

    def _place(self, rng, shape, width, height, squash, objects):
        """Find a free spot for a shape; return its polygon, or None when the table is full."""
        short = min(width, height)
        size = short * math.exp(rng.uniform(math.log(SIZE_RANGE[0]), math.log(SIZE_RANGE[1])))
        angle = rng.uniform(0, 2 * math.pi)
        for attempt in range(30):
            if attempt and attempt % 10 == 0:
                size *= 0.8  # crowded: try smaller
            unit = shape_outline(shape, (0.0, 0.0), size, angle, squash)
            x_lo, y_lo = -unit.min(axis=0)
            x_hi, y_hi = np.array([width, height]) - unit.max(axis=0)
            if x_hi <= x_lo or y_hi <= y_lo:
                continue
            points = unit + [rng.uniform(x_lo, x_hi), rng.uniform(y_lo, y_hi)]
            box = outline_box(points)
            if all(_overlap(box, other.box) <= MAX_OVERLAP for other in objects):
                return points
        return None
