# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
What an RGB-D sensor makes of the true depth: a RealSense-like active-stereo camera.

:meth:`DepthSensor.measure` turns a scene's true depth (metres, float) into what the
driver publishes registered to the colour image: uint16 millimetres, 0 for "no
reading" (sensor_msgs/Image 16UC1). What it adds, all vectorised:

- noise growing with the square of the distance (stereo: a constant disparity error
  is a depth error of z^2 / (f b)), and no reading where that error would be
  largest, as a stereo matcher's confidence filter drops its worst matches;
- blobs without readings (shiny, dark or textureless patches);
- at depth edges (object outlines): missing readings, and flying pixels whose depth
  lies between the foreground's and the background's;
- the stereo shadow beside each object (background the second imager cannot see,
  as wide as the disparity step) and the band at one side of the image that only one
  imager sees (``fx * baseline / z`` pixels wide, partly cropped by the registration
  to the narrower colour view), both on the same side.
"""

import functools
import statistics
from typing import NamedTuple, Tuple

import cv2
import numpy as np

from vlm_perception.world.render import smooth_noise

# Readings whose noise is beyond this many standard deviations are dropped.
DROPOUT_SIGMA = 3.0


@functools.lru_cache(maxsize=1)
def _normal_quantiles():
    """Return the standard normal's quantiles at the midpoints (i + 0.5) / 65536, float32."""
    normal = statistics.NormalDist()
    return np.array([normal.inv_cdf((i + 0.5) / 65536) for i in range(65536)], np.float32)


def standard_normal(rng, shape):
    """
    Draw standard normal noise, float32: the quantile of a random 16-bit level.

    A third of the cost of ``rng.standard_normal`` for a frame; exact to the 1/65536
    level (tails to 4.3 sigma, farther than the dropouts reach).
    """
    return np.take(_normal_quantiles(), rng.integers(0, 65536, shape, dtype=np.uint16))


class DepthSensor(NamedTuple):
    """
    The imperfections of the depth sensor (defaults: a RealSense D4xx at 640x480).

    ``noise``: a reading's standard deviation is ``noise * z**2`` metres (z in
    metres): 2.5 mm at 1 m; ``holes``: the mean share of the frame in blobs
    without readings (each scene draws 0 to twice this); ``edge_missing`` and
    ``edge_flying``: the shares of depth-edge pixels without a reading and with
    a flying one; ``baseline``: metres between the stereo imagers, which sets the
    shadows and the band (0: neither); ``band``: the range of the share of the
    band left in view, one drawn per scene; ``depth_range``: readings outside it
    (metres) are none.
    """

    noise: float = 0.0025
    holes: float = 0.01
    edge_missing: float = 0.25
    edge_flying: float = 0.35
    baseline: float = 0.05
    band: Tuple[float, float] = (0.3, 1.0)
    depth_range: Tuple[float, float] = (0.15, 10.0)

    @classmethod
    def ideal(cls):
        """Return a sensor that reads the true depth, rounded to millimetres."""
        return cls(noise=0.0, holes=0.0, edge_missing=0.0, edge_flying=0.0, baseline=0.0)

    def measure(self, depth, labels, rng, fx):
        """
        Return what the sensor reads of true ``depth``: (H, W) uint16 mm, 0 = no reading.

        ``depth``: (H, W) float32 metres, inf where nothing is seen; ``labels``: (H, W)
        int16, which surface each pixel shows (its outlines are the depth edges);
        ``fx``: the colour camera's horizontal focal length in pixels (the registered
        frame's).
        """
        z = np.array(depth, np.float32)
        missing = self._edges(z, depth, labels, rng)
        if self.baseline > 0:
            missing |= self._stereo_shadows(depth, fx, rng)
        if self.holes > 0:
            height, width = z.shape
            # Blobs of a smooth field above its (1 - share) quantile, drawn at a quarter
            # of the resolution: nothing in them needs more.
            field = smooth_noise(rng, (height + 3) // 4, (width + 3) // 4,
                                 rng.uniform(6.0, 14.0))
            share = rng.uniform(0.0, 2.0 * self.holes)
            field = cv2.resize(field, (width, height), interpolation=cv2.INTER_LINEAR)
            missing |= field > np.quantile(field[::4, ::4], 1.0 - share)
        if self.noise > 0:
            error = standard_normal(rng, z.shape)
            missing |= np.abs(error) > DROPOUT_SIGMA
            error *= np.float32(self.noise) * z * z
            z += error
        low, high = self.depth_range
        with np.errstate(invalid='ignore'):
            missing |= ~((z >= low) & (z <= high))
        z[missing] = 0.0
        return np.rint(z * np.float32(1000.0)).astype(np.uint16)

    def _edges(self, z, depth, labels, rng):
        """
        Put flying pixels into ``z`` in place at depth edges; return the missing mask.

        The edges are the pixels whose 3x3 neighbourhood shows two surfaces (from
        ``labels``: a depth test alone would also fire on a steeply slanted table).
        """
        missing = ~np.isfinite(depth)
        if not (self.edge_missing > 0 or self.edge_flying > 0):
            return missing
        square = np.ones((3, 3), np.uint8)
        rows, columns = np.nonzero(cv2.dilate(labels, square) != cv2.erode(labels, square))
        near, far = cv2.erode(depth, square), cv2.dilate(depth, square)
        draw = rng.random(len(rows))
        lost = draw < self.edge_missing
        flying = ~lost & (draw < self.edge_missing + self.edge_flying)
        missing[rows[lost], columns[lost]] = True
        rows, columns = rows[flying], columns[flying]
        between = rng.random(len(rows)).astype(np.float32)
        z[rows, columns] = near[rows, columns] + between * (far[rows, columns]
                                                            - near[rows, columns])
        return missing

    def _stereo_shadows(self, depth, fx, rng):
        """
        Return the pixels only one imager sees: beside objects, and the band at one side.

        A pixel is in the shadow of a nearer surface k pixels towards the other imager
        when their disparities differ by at least k: fx b (1/z' - 1/z) >= k. With
        a = fx b / z - j per column j, that is max(a over the next k columns) >= a, one
        running maximum. The side (left as on a RealSense, or right) is drawn per scene.
        """
        height, width = depth.shape
        left = rng.random() < 0.5
        disparity = (np.float32(fx * self.baseline) / depth).astype(np.float32)  # 0 at inf
        if not left:
            disparity = disparity[:, ::-1]
        reach = int(np.ceil((disparity.max(axis=1) - disparity.min(axis=1)).max()))
        shadow = np.zeros((height, width), bool)
        if reach >= 1 and width > 1:
            a = disparity - np.arange(width, dtype=np.float32)[None, :]
            ahead = cv2.dilate(np.ascontiguousarray(a[:, 1:]), np.ones((1, reach), np.uint8),
                               anchor=(0, 0), borderType=cv2.BORDER_CONSTANT,
                               borderValue=float(a.min()) - 1.0)
            shadow[:, :-1] = ahead >= a[:, :-1]
        band = rng.uniform(*self.band) * disparity[:, 0]   # pixels, per row
        shadow |= np.arange(width)[None, :] < band[:, None]
        return shadow if left else shadow[:, ::-1]
