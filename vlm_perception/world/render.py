# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
Drawing of the tabletop world with numpy and OpenCV: table backgrounds and flat shapes.

Coordinates are continuous pixel coordinates with the origin at the image's
top-left corner: pixel (i, j) covers x in [j, j + 1) and y in [i, i + 1), so a
box's x_max is the far edge of the last column it touches. OpenCV puts pixel
centres on integers, hence the half-pixel shift when polygons are drawn.
Images are float32 RGB in [0, 255] while being drawn.
"""

import colorsys
import math

import cv2
import numpy as np

from vlm_perception.world.vocabulary import COLOUR_HSV

# Unit outlines, centred on (0, 0), sized so that the shapes look about
# equally big at the same nominal size (their extent is close to 2).
_CIRCLE = np.stack([np.cos(np.linspace(0, 2 * np.pi, 48, endpoint=False)),
                    np.sin(np.linspace(0, 2 * np.pi, 48, endpoint=False))], axis=1)
_SQUARE = np.array([[-0.85, -0.85], [0.85, -0.85], [0.85, 0.85], [-0.85, 0.85]])
_TRIANGLE = 1.12 * np.array([[math.cos(a), math.sin(a)]
                             for a in (-math.pi / 2 + k * 2 * math.pi / 3 for k in range(3))])
_STAR = np.array([[r * math.cos(-math.pi / 2 + k * math.pi / 5),
                   r * math.sin(-math.pi / 2 + k * math.pi / 5)]
                  for k, r in zip(range(10), [1.15, 0.47] * 5)])
_ARM, _HALF = 1.0, 0.32
_CROSS = np.array([[-_HALF, -_ARM], [_HALF, -_ARM], [_HALF, -_HALF], [_ARM, -_HALF],
                   [_ARM, _HALF], [_HALF, _HALF], [_HALF, _ARM], [-_HALF, _ARM],
                   [-_HALF, _HALF], [-_ARM, _HALF], [-_ARM, -_HALF], [-_HALF, -_HALF]])
_SUPERSAMPLE = 4
OUTLINES = {'circle': _CIRCLE, 'square': _SQUARE, 'triangle': _TRIANGLE,
            'star': _STAR, 'cross': _CROSS}

# Desaturated table tones (hue degrees, saturation, value): wood, greys,
# beige, slate, muted blue-grey and green-grey.
TABLE_TONES = (
    (30.0, 0.40, 0.72), (25.0, 0.45, 0.48), (0.0, 0.0, 0.55), (0.0, 0.0, 0.75),
    (40.0, 0.20, 0.78), (210.0, 0.10, 0.38), (215.0, 0.15, 0.55), (100.0, 0.10, 0.55),
)


def hsv_to_rgb(hue_deg, saturation, value):
    """Return the RGB triple in [0, 255] (float) of an HSV colour, hue in degrees."""
    return np.array(colorsys.hsv_to_rgb((hue_deg % 360.0) / 360.0, saturation, value),
                    np.float32) * 255.0


def sample_colour(rng, colour):
    """Draw one RGB triple (float32, [0, 255]) of the named colour."""
    (h0, h1), (s0, s1), (v0, v1) = COLOUR_HSV[colour]
    return hsv_to_rgb(rng.uniform(h0, h1), rng.uniform(s0, s1), rng.uniform(v0, v1))


def smooth_noise(rng, height, width, cells):
    """
    Return smooth random noise, (height, width) float32 in about [-1, 1].

    A coarse random grid with ``cells`` cells across the longer side,
    upsampled bicubically: cheap value noise.
    """
    scale = cells / max(height, width)
    grid_h, grid_w = max(2, round(height * scale) + 1), max(2, round(width * scale) + 1)
    grid = rng.uniform(-1.0, 1.0, (grid_h, grid_w)).astype(np.float32)
    return cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)


def _ramp(rng, height, width):
    """Return a linear ramp in a random direction, (height, width) float32 in [-1, 1]."""
    angle = rng.uniform(0, 2 * np.pi)
    ys = np.linspace(-1.0, 1.0, height, dtype=np.float32)[:, None] * math.sin(angle)
    xs = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :] * math.cos(angle)
    return (ys + xs) / (abs(math.sin(angle)) + abs(math.cos(angle)))


def draw_background(rng, height, width, light, gains):
    """
    Draw a lit table top, (height, width, 3) float32 RGB in [0, 255].

    A desaturated tone with a texture (wood grain, blotchy noise, tiles or
    plain) and a brightness gradient across the table, times ``light``
    ((height, width) float32, the scene's illumination) and the camera's
    white-balance ``gains`` ((3,) float32).
    """
    hue, sat, val = TABLE_TONES[int(rng.integers(len(TABLE_TONES)))]
    base = hsv_to_rgb(hue + rng.uniform(-8, 8), sat * rng.uniform(0.7, 1.2),
                      val * rng.uniform(0.85, 1.1))
    kind = int(rng.integers(4))
    # Texture at half resolution: nothing in it needs full detail.
    half_h, half_w = (height + 1) // 2, (width + 1) // 2
    if kind == 0:  # wood grain: warped stripes across a random direction
        ramp = _ramp(rng, half_h, half_w) * (max(half_h, half_w) / rng.uniform(3.0, 10.0))
        warp = smooth_noise(rng, half_h, half_w, rng.uniform(2, 5)) * rng.uniform(1.0, 4.0)
        texture = np.sin(ramp + warp) * rng.uniform(0.04, 0.12)
        texture += smooth_noise(rng, half_h, half_w, 40) * 0.03
    elif kind == 1:  # blotchy: two octaves of value noise
        texture = (smooth_noise(rng, half_h, half_w, rng.uniform(3, 8)) * rng.uniform(0.04, 0.1)
                   + smooth_noise(rng, half_h, half_w, rng.uniform(20, 40)) * 0.04)
    elif kind == 2:  # tiles: thin darker joints on a grid
        period = rng.uniform(25, 70) / 2
        ys = np.arange(half_h, dtype=np.float32)[:, None]
        xs = np.arange(half_w, dtype=np.float32)[None, :]
        joints = ((ys % period) < 1.0) | ((xs % period) < 1.0)
        texture = np.where(joints, -rng.uniform(0.1, 0.25), 0.0).astype(np.float32)
        texture += smooth_noise(rng, half_h, half_w, 6) * 0.04
    else:  # plain, faintly uneven
        texture = smooth_noise(rng, half_h, half_w, 5) * 0.03
    texture += _ramp(rng, half_h, half_w) * rng.uniform(0.0, 0.25)
    shade = cv2.resize(texture.astype(np.float32) + 1.0, (width, height),
                       interpolation=cv2.INTER_LINEAR)
    shade *= light
    return shade[:, :, None] * (base * gains)[None, None, :]


def draw_light(rng, height, width):
    """Return the illumination, (height, width) float32 near 1: exposure and a soft spot."""
    light = smooth_noise(rng, height, width, 2) * rng.uniform(0.0, 0.15)
    light += rng.uniform(0.8, 1.15)
    return light


def shape_outline(shape, centre, size, angle, squash):
    """
    Return a shape's polygon in image coordinates, (K, 2) float64 of (x, y).

    ``size`` is the nominal diameter in pixels, ``angle`` the rotation in
    radians and ``squash`` the vertical scale (< 1 mimics a camera looking
    down at the table at a slant).
    """
    c, s = math.cos(angle), math.sin(angle)
    points = OUTLINES[shape] @ np.array([[c, s], [-s, c]]) * (size / 2.0)
    points[:, 1] *= squash
    return points + np.asarray(centre, np.float64)


def outline_box(points):
    """Return the exact box (x_min, y_min, x_max, y_max) of a polygon, as floats."""
    x0, y0 = points.min(axis=0)
    x1, y1 = points.max(axis=0)
    return float(x0), float(y0), float(x1), float(y1)


def _polygon_alpha(points, x0, y0, width, height):
    """
    Coverage of a polygon in a (height, width) window at (x0, y0), float32 in [0, 1].

    Filled at 4x resolution and averaged down (OpenCV's own anti-aliasing
    spreads shapes by over half a pixel), so edges are right to a quarter pixel.
    """
    mask = np.zeros((height * _SUPERSAMPLE, width * _SUPERSAMPLE), np.uint8)
    # 4 fractional bits; OpenCV's pixel centres are at integers, ours at +0.5.
    fixed = np.round(((points - [x0, y0]) * _SUPERSAMPLE - 0.5) * 16.0).astype(np.int32)
    cv2.fillPoly(mask, [fixed], 255, lineType=cv2.LINE_8, shift=4)
    coverage = cv2.resize(mask, (width, height), interpolation=cv2.INTER_AREA)
    return coverage.astype(np.float32) * (1.0 / 255.0)


def draw_object(image, rng, points, rgb, light_dir, light):
    """
    Draw one flat object with a soft shadow and a little shading onto ``image`` in place.

    ``image`` is (H, W, 3) float32; ``points`` the polygon from
    :func:`shape_outline`; ``rgb`` its colour as the camera sees it (white
    balance applied); ``light_dir`` a unit (dx, dy) pointing where shadows
    fall; ``light`` the (H, W) illumination the background was drawn with.
    Returns (x0, y0, coverage): how much of each pixel of the window at
    column x0, row y0 the object covers, float32 in [0, 1].
    """
    height, width = image.shape[:2]
    x_min, y_min, x_max, y_max = outline_box(points)
    extent = max(x_max - x_min, y_max - y_min)
    offset = np.asarray(light_dir) * extent * rng.uniform(0.03, 0.08)
    blur = max(1.0, extent * 0.04)
    pad = int(math.ceil(abs(offset).max() + 3 * blur)) + 2
    x0, y0 = max(0, int(x_min) - pad), max(0, int(y_min) - pad)
    x1, y1 = min(width, int(math.ceil(x_max)) + pad), min(height, int(math.ceil(y_max)) + pad)
    window = image[y0:y1, x0:x1]
    shadow = _polygon_alpha(points + offset, x0, y0, x1 - x0, y1 - y0)
    shadow = cv2.GaussianBlur(shadow, (0, 0), blur)
    window *= (1.0 - rng.uniform(0.15, 0.45) * shadow)[:, :, None]
    alpha = _polygon_alpha(points, x0, y0, x1 - x0, y1 - y0)
    shading = 1.0 + _ramp(rng, y1 - y0, x1 - x0) * rng.uniform(0.0, 0.12)
    shading *= light[y0:y1, x0:x1]
    window *= (1.0 - alpha)[:, :, None]
    window += (alpha * shading)[:, :, None] * rgb[None, None, :]
    return x0, y0, alpha


def apply_camera(image, rng):
    """
    Blur a little sometimes, add sensor noise, and return uint8 (H, W, 3).

    ``image`` is float32 RGB in [0, 255] and is consumed (changed in place).
    """
    height, width = image.shape[:2]
    if rng.random() < 0.3:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.4, 1.0))
    # Uniform noise from random bytes: as good as Gaussian here, at a tenth the cost.
    noise = rng.integers(0, 256, (height, width, 1), dtype=np.uint8).astype(np.float32)
    noise -= 127.5
    noise *= rng.uniform(0.0, 6.0) / 73.9  # std of the uniform bytes is 73.9
    image += noise
    np.clip(image, 0.0, 255.0, out=image)
    return image.astype(np.uint8)
