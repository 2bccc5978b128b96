# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
The tabletop world in 3D: a pinhole camera over the table, what it sees, and the truth.

The drawn image defines the world: the camera looks down at the table at a tilt
(about its x axis, no roll), the table is the plane every table pixel's ray meets,
and each object is a prism standing on the table whose top face (a plane parallel
to the table at the object's height) is what the pixels of its drawn shape see. So
depth and colour agree pixel for pixel, and drawing order decides occlusion in both.

Conventions are those of :mod:`vlm_perception.geometry`: the optical frame has x
right, y down, z forward; pixel (row i, column j) looks through (u, v) = (j, i).
"""

import math
from typing import NamedTuple

import numpy as np

from vlm_perception.geometry import back_project, PinholeIntrinsics

# Horizontal field of view of RGB-D colour cameras (RealSense D4xx 69 deg, Orbbec 63-71,
# Azure Kinect 64-90), degrees; one drawn per scene.
FIELD_OF_VIEW = (60.0, 70.0)
# The principal point lies within this share of the frame's size of its centre.
PRINCIPAL_POINT_OFFSET = 0.02
# fy / fx lies within 1 +- this (calibrated colour cameras come out a little non-square).
ASPECT_JITTER = 0.005
# Metres from the camera along its optical axis to the table.
DISTANCE_RANGE = (0.5, 1.0)
# Height of the objects' top faces above the table, metres; one drawn per object.
HEIGHT_RANGE = (0.02, 0.06)
# Steepest tilt allowed, degrees from looking straight down: beyond it the top rows of a
# wide vertical field of view would look at the horizon.
MAX_TILT = 50.0


class TableView(NamedTuple):
    """
    Where a scene's camera is: its intrinsics and its pose over the table.

    ``distance``: metres from the camera along its optical axis to the table;
    ``tilt``: degrees between the optical axis and the table's normal (0: looking
    straight down; more: the top of the image sees farther). The table is the plane
    ``normal . X = plane_offset(0)`` in the optical frame.
    """

    intrinsics: PinholeIntrinsics
    distance: float
    tilt: float

    @property
    def normal(self):
        """Return the table's unit normal in the optical frame, pointing away from the camera."""
        tilt = math.radians(self.tilt)
        return np.array([0.0, math.sin(tilt), math.cos(tilt)])

    def plane_offset(self, height=0.0):
        """Return d of the plane ``normal . X = d`` lying ``height`` metres above the table."""
        return self.distance * math.cos(math.radians(self.tilt)) - height

    def inverse_depth_scale(self, rows):
        """
        Return, per image row v, 1 / z of the plane ``normal . X = 1`` seen there.

        Depth of any plane parallel to the table is its offset times the inverse of
        this; rows at or above the horizon give 0 (the ray never meets the table).
        """
        _, fy, _, cy = self.intrinsics
        tilt = math.radians(self.tilt)
        scale = math.cos(tilt) + math.sin(tilt) * (np.asarray(rows, np.float64) - cy) / fy
        return np.maximum(scale, 0.0)


def draw_view(rng, width, height, distance_range, tilt):
    """
    Draw a scene's camera: intrinsics for a width x height frame and its distance.

    ``tilt`` (degrees) is the scene's own (see SceneGenerator); the field of view,
    principal point and distance come from ``rng``, in that order.
    """
    distance = rng.uniform(*distance_range)
    fov = math.radians(rng.uniform(*FIELD_OF_VIEW))
    fx = width / 2.0 / math.tan(fov / 2.0)
    fy = fx * rng.uniform(1.0 - ASPECT_JITTER, 1.0 + ASPECT_JITTER)
    cx, cy = (np.array([width, height]) - 1.0) / 2.0 + rng.uniform(
        -PRINCIPAL_POINT_OFFSET, PRINCIPAL_POINT_OFFSET, 2) * [width, height]
    return TableView(PinholeIntrinsics(fx, fy, float(cx), float(cy)), float(distance),
                     float(tilt))


def label_pixels(coverages, width, height):
    """
    Return (height, width) int16: which object each pixel shows, -1 for the table.

    ``coverages``: per object in drawing order, (x0, y0, coverage) as
    :func:`~vlm_perception.world.render.draw_object` returns it. A pixel shows the
    last object that covers at least half of it, so later objects hide earlier ones
    as they do in the colour image, and a pixel's centre is always inside the box of
    the object it shows.
    """
    labels = np.full((height, width), -1, np.int16)
    for index, (x0, y0, coverage) in enumerate(coverages):
        window = labels[y0:y0 + coverage.shape[0], x0:x0 + coverage.shape[1]]
        window[coverage >= 0.5] = index
    return labels


def surface_depth(view, labels, heights):
    """
    Return the true depth z (metres, (H, W) float32) of what each pixel sees.

    The table where ``labels`` is -1, else the top face of object ``labels`` standing
    ``heights[label]`` metres above it; inf where a ray misses the table.
    """
    offsets = view.plane_offset(0.0) - np.concatenate([[0.0], np.asarray(heights, np.float64)])
    scale = view.inverse_depth_scale(np.arange(labels.shape[0]))
    with np.errstate(divide='ignore'):
        per_row = (1.0 / scale).astype(np.float32)
    return np.take(offsets.astype(np.float32), labels + 1) * per_row[:, None]


def visible_surfaces(depth, labels, intrinsics, boxes):
    """
    Return the centroid and extent of each object's visible surface, (N, 3) float64 each.

    The mean and the extent (max - min per axis) of the back-projected pixels that
    show object k (``labels == k``, finite ``depth``), searched inside ``boxes[k]``;
    NaN rows for an object nothing of which is seen.
    """
    height, width = labels.shape
    positions = np.full((len(boxes), 3), np.nan)
    sizes = positions.copy()
    for index, (x0, y0, x1, y1) in enumerate(boxes):
        top, left = max(0, int(y0)), max(0, int(x0))
        bottom, right = min(height, math.ceil(y1)), min(width, math.ceil(x1))
        z = depth[top:bottom, left:right]
        rows, columns = np.nonzero((labels[top:bottom, left:right] == index) & np.isfinite(z))
        if len(rows) == 0:
            continue
        points = np.stack(back_project(columns + left, rows + top,
                                       z[rows, columns].astype(np.float64), intrinsics), axis=1)
        positions[index] = points.mean(axis=0)
        sizes[index] = points.max(axis=0) - points.min(axis=0)
    return positions, sizes
