# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
Seeded generator of tabletop scenes: an image, its objects, their names and exact boxes.

Scene ``index`` of a generator depends only on (seed, split, index), so scenes
can be made in any order, in parallel, or one at a time by a camera node, and
are the same every time.

In 3D (see :mod:`vlm_perception.world.view`) each scene also has its camera
(intrinsics, distance and tilt over the table), the objects' heights, the depth a
sensor reads (:mod:`vlm_perception.world.depth_sensor`), the true depth, and per
object the true centroid and extent of its visible surface. Those come from random
streams of their own, so the image and the objects are what they were before the
world had depth (the shipped model was trained on them).
"""

from dataclasses import dataclass, replace
import math
from typing import List, Optional, Tuple

import numpy as np

from vlm_perception.world.commands import parse_phrase
from vlm_perception.world.depth_sensor import DepthSensor
from vlm_perception.world.render import apply_camera, draw_background, draw_light, draw_object
from vlm_perception.world.render import outline_box, sample_colour, shape_outline
from vlm_perception.world.view import DISTANCE_RANGE, draw_view, HEIGHT_RANGE, label_pixels
from vlm_perception.world.view import MAX_TILT, surface_depth, TableView, visible_surfaces
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
# Vertical scale of the drawn shapes: a camera looking down at the table at a slant.
SQUASH_RANGE = (0.75, 1.0)
# The camera's tilt follows the squash: with this range (the default), cos(tilt) = squash.
TILT_RANGE = (0.0, math.degrees(math.acos(SQUASH_RANGE[0])))
# Tags of the random streams that 3D draws from, apart from the image's.
VIEW_STREAM, SENSOR_STREAM = 1, 2


@dataclass(frozen=True)
class SceneObject:
    """
    One object on the table: its colour, shape and exact box (x0, y0, x1, y1) in pixels.

    In 3D (None where not generated): ``top_height``, metres from the table to its
    top face; ``position_3d``, the true centroid (x, y, z) of its visible surface
    in the camera's optical frame (x right, y down, z forward, metres), and
    ``size_3d``, that surface's extent along x, y and z.
    """

    colour: str
    shape: str
    box: Tuple[float, float, float, float]
    top_height: Optional[float] = None
    position_3d: Optional[Tuple[float, float, float]] = None
    size_3d: Optional[Tuple[float, float, float]] = None

    @property
    def name(self):
        """Return the object's name, e.g. ``'red circle'``."""
        return pair_name(self.colour, self.shape)


@dataclass(frozen=True)
class Scene:
    """
    A generated frame: ``image`` (H, W, 3) uint8 RGB and its ``objects`` in drawing order.

    In 3D: ``view``, the camera (a TableView: intrinsics, distance, tilt);
    ``depth``, what the depth sensor reads, registered to ``image`` (same grid and
    optical frame): (H, W) uint16 millimetres, 0 for no reading, as RealSense
    drivers publish 16UC1; ``depth_truth``, the true depth, (H, W) float32 metres;
    ``labels``, (H, W) int16, the object each pixel shows (-1: the table). The
    depth images are None when the generator was made with ``depth=False``.
    """

    image: np.ndarray
    objects: List[SceneObject]
    index: int
    view: Optional[TableView] = None
    depth: Optional[np.ndarray] = None
    depth_truth: Optional[np.ndarray] = None
    labels: Optional[np.ndarray] = None

    @property
    def intrinsics(self):
        """Return the PinholeIntrinsics of the frame (of ``image`` and ``depth`` alike)."""
        return None if self.view is None else self.view.intrinsics

    def referred(self, phrase):
        """
        Return the indices of the objects a query phrase refers to.

        ``'red circle'`` -> every red circle; ``'something purple'`` -> every
        purple object; ``'the triangle'`` -> every triangle.
        """
        target = parse_phrase(phrase)
        return [i for i, obj in enumerate(self.objects) if target.matches(obj.colour, obj.shape)]


def _point(values):
    """Return (x, y, z) as floats, or None for a NaN row (nothing of the object seen)."""
    return None if np.isnan(values).any() else tuple(float(v) for v in values)


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

    3D: ``distance_range`` (metres along the optical axis to the table) and
    ``tilt_range`` (degrees from looking straight down) bound the camera's pose.
    The distance is drawn uniformly; the tilt follows the scene's squash
    (cos(tilt) = squash with the default range, which spans the squashes; another
    range is mapped onto linearly in the tilt). ``depth=False`` skips the depth
    images and the 3D truth (training never needs them); ``depth_sensor`` says
    what the sensor adds (:class:`DepthSensor`, or ``DepthSensor.ideal()``).
    """

    def __init__(self, seed=0, sizes=DEFAULT_SIZES, held_out=HELD_OUT_PAIRS, split='train',
                 max_objects=6, distance_range=DISTANCE_RANGE, tilt_range=TILT_RANGE,
                 depth=True, depth_sensor=DepthSensor()):
        if split not in SPLITS:
            raise ValueError(f'split must be one of {SPLITS}, not {split!r}')
        if not sizes:
            raise ValueError('sizes must name at least one (width, height)')
        distance_range = tuple(float(d) for d in distance_range)
        tilt_range = tuple(float(t) for t in tilt_range)
        if not 0 < distance_range[0] <= distance_range[1]:
            raise ValueError(f'distance_range must be (min, max) metres with 0 < min <= max, '
                             f'not {distance_range}')
        if not 0 <= tilt_range[0] <= tilt_range[1] <= MAX_TILT:
            raise ValueError(f'tilt_range must be (min, max) degrees with 0 <= min <= max <= '
                             f'{MAX_TILT:g}, not {tilt_range}')
        self.seed = int(seed)
        self.sizes = tuple((int(w), int(h)) for w, h in sizes)
        self.split = split
        self.held_out = tuple(tuple(pair) for pair in held_out)
        excluded = set(self.held_out) if split == 'train' else set()
        self.pairs = [pair for pair in all_pairs() if pair not in excluded]
        self.max_objects = int(max_objects)
        self.distance_range = distance_range
        self.tilt_range = tilt_range
        self.depth = bool(depth)
        self.depth_sensor = depth_sensor
        self._next_index = 0

    def generate(self, index=None):
        """Return scene ``index``, or the next one after the last generated when None."""
        if index is None:
            index = self._next_index
        index = int(index)
        self._next_index = index + 1
        stream = [self.seed, SPLITS.index(self.split), index]
        rng = np.random.default_rng(stream)
        width, height = self.sizes[int(rng.integers(len(self.sizes)))]
        light = draw_light(rng, height, width)
        gains = rng.uniform(0.9, 1.1, 3).astype(np.float32)  # white balance
        image = draw_background(rng, height, width, light, gains)
        light_angle = rng.uniform(0, 2 * math.pi)
        light_dir = (math.cos(light_angle), math.sin(light_angle))
        squash = rng.uniform(*SQUASH_RANGE)
        objects, coverages = [], []
        for _ in range(int(rng.integers(1, self.max_objects + 1))):
            colour, shape = self.pairs[int(rng.integers(len(self.pairs)))]
            points = self._place(rng, shape, width, height, squash, objects)
            if points is None:
                continue
            coverages.append(draw_object(image, rng, points, sample_colour(rng, colour) * gains,
                                         light_dir, light))
            objects.append(SceneObject(colour, shape, outline_box(points)))
        image = apply_camera(image, rng)
        return self._in_space(Scene(image, objects, index), stream, squash, coverages)

    def _in_space(self, scene, stream, squash, coverages):
        """Add the camera, the heights and (with ``depth``) the depth and the 3D truth."""
        rng = np.random.default_rng(stream + [VIEW_STREAM])
        height, width = scene.image.shape[:2]
        slant = math.acos(squash) / math.acos(SQUASH_RANGE[0])   # 0..1
        low, high = self.tilt_range
        view = draw_view(rng, width, height, self.distance_range, low + (high - low) * slant)
        heights = rng.uniform(*HEIGHT_RANGE, len(scene.objects))
        objects = [replace(obj, top_height=float(h)) for obj, h in zip(scene.objects, heights)]
        if not self.depth:
            return replace(scene, objects=objects, view=view)
        labels = label_pixels(coverages, width, height)
        truth = surface_depth(view, labels, heights)
        positions, sizes = visible_surfaces(truth, labels, view.intrinsics,
                                            [obj.box for obj in objects])
        objects = [replace(obj, position_3d=_point(p), size_3d=_point(s))
                   for obj, p, s in zip(objects, positions, sizes)]
        depth = self.depth_sensor.measure(truth, labels,
                                          np.random.default_rng(stream + [SENSOR_STREAM]),
                                          view.intrinsics.fx)
        return replace(scene, objects=objects, view=view, depth=depth, depth_truth=truth,
                       labels=labels)

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
