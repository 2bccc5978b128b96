# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
Geometry of an RGB-D camera: pinhole intrinsics, back-projection, and where an object is.

Plain numpy without ROS, like image_geometry and depth_image_proc. Conventions are
ROS's: the optical frame has x right, y down, z forward; pixel (row i, column j)
has its centre at (u, v) = (j, i), which is where CameraInfo's principal point
lives. Detection boxes are continuous coordinates (pixel j covers x in [j, j + 1)),
so the pixel centres inside a box [x0, x1) are the columns j with x0 <= j + 0.5 < x1.

- :class:`PinholeIntrinsics` and :func:`intrinsics_from_camera_info`: the camera
  model for the frame at hand (P where set, else K; scaled to the frame's size).
- :func:`back_project` and :func:`project`: pixels and depth to points and back.
- :func:`locate_objects`: the 3D centroid and extent of the surface a detection box
  shows, from a registered depth image, with the background rejected robustly.
"""

from typing import NamedTuple

import numpy as np

# Frames whose aspect ratio differs from camera_info's by more than this are not a
# scaled version of it (a cropped or padded frame): refused rather than guessed.
ASPECT_TOLERANCE = 0.01


class GeometryError(ValueError):
    """Intrinsics or depth that cannot be used; the message says why in one line."""


class PinholeIntrinsics(NamedTuple):
    """A pinhole camera without distortion: focal lengths and principal point, pixels."""

    fx: float
    fy: float
    cx: float
    cy: float

    def scaled(self, scale_x, scale_y):
        """
        Return the intrinsics of the same camera for a frame resized by (scale_x, scale_y).

        Pixel centres sit at integers, so the continuous coordinate of centre u is
        u + 0.5, and that is what scales: cx' = (cx + 0.5) * scale_x - 0.5.
        """
        return PinholeIntrinsics(self.fx * scale_x, self.fy * scale_y,
                                 (self.cx + 0.5) * scale_x - 0.5,
                                 (self.cy + 0.5) * scale_y - 0.5)

    def matrix(self):
        """Return K, the (3, 3) float64 camera matrix."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])


def intrinsics_from_camera_info(k, p, info_width, info_height, image_width, image_height,
                                roi=(0, 0, 0, 0)):
    """
    Return the PinholeIntrinsics of a frame of ``image_width`` x ``image_height``.

    ``k`` (9 values, row-major K) and ``p`` (12 values, row-major P) as CameraInfo
    has them: P, the rectified projection, is used where set (P[0] != 0), else K.
    ``roi`` is CameraInfo's (x_offset, y_offset, width, height); a set roi means the
    frames are that window of the calibrated image. ``info_width`` / ``info_height``
    of 0 mean "the frame's own size". A frame that is a resized version of the
    calibrated one (or of its roi) gets the intrinsics scaled to it. Raises
    GeometryError for a zero or non-finite focal length, or a frame with another
    aspect ratio.
    """
    p = np.asarray(p, np.float64).reshape(-1)
    k = np.asarray(k, np.float64).reshape(-1)
    if p.size == 12 and p[0] != 0.0:
        fx, fy, cx, cy = p[0], p[5], p[2], p[6]
    elif k.size == 9:
        fx, fy, cx, cy = k[0], k[4], k[2], k[5]
    else:
        raise GeometryError(f'camera_info has a K of {k.size} and a P of {p.size} values')
    if not (np.isfinite([fx, fy, cx, cy]).all() and fx > 0 and fy > 0):
        raise GeometryError(f'camera_info has no usable focal length (fx {fx:g}, fy {fy:g}); '
                            'is the camera calibrated?')
    x_offset, y_offset, roi_width, roi_height = (int(value) for value in roi)
    if roi_width > 0 and roi_height > 0:
        cx, cy = cx - x_offset, cy - y_offset
        info_width, info_height = roi_width, roi_height
    intrinsics = PinholeIntrinsics(float(fx), float(fy), float(cx), float(cy))
    info_width = int(info_width) or int(image_width)
    info_height = int(info_height) or int(image_height)
    if (info_width, info_height) == (int(image_width), int(image_height)):
        return intrinsics
    scale_x, scale_y = image_width / info_width, image_height / info_height
    if abs(scale_x / scale_y - 1.0) > ASPECT_TOLERANCE:
        raise GeometryError(f'frame {image_width}x{image_height} is not a scaled version of '
                            f"camera_info's {info_width}x{info_height} (other aspect ratio)")
    return intrinsics.scaled(scale_x, scale_y)


def back_project(u, v, depth, intrinsics):
    """
    Return the points (x, y, z) seen at pixel centres (u, v) with ``depth`` z, metres.

    Arrays broadcast; x = (u - cx) z / fx, y = (v - cy) z / fy, the inverse of
    :func:`project` (image_geometry's projectPixelTo3dRay scaled to depth z).
    """
    fx, fy, cx, cy = intrinsics
    z = np.asarray(depth)
    return (np.asarray(u) - cx) * z / fx, (np.asarray(v) - cy) * z / fy, z


def project(x, y, z, intrinsics):
    """Return the pixel coordinates (u, v) of points (x, y, z) in the optical frame."""
    fx, fy, cx, cy = intrinsics
    z = np.asarray(z)
    return fx * np.asarray(x) / z + cx, fy * np.asarray(y) / z + cy


class ObjectsInSpace(NamedTuple):
    """
    Where N detected objects are: ``positions`` and ``sizes`` (N, 3) float32, metres.

    positions: the centroid of each object's visible surface (x, y, z in the optical
    frame); sizes: the extent of that surface along x, y and z. A row is NaN where
    the box held too little usable depth. ``points`` (N,) int: depth samples kept.
    """

    positions: np.ndarray
    sizes: np.ndarray
    points: np.ndarray


# Settings of locate_objects; the defaults suit tabletop objects a few cm high.
SAMPLES = 32          # a box is sampled on a SAMPLES x SAMPLES grid of pixels
RING_SAMPLES = 16     # support-surface samples along each side of the box, per ring
RING_MARGINS = (0.1, 0.25)   # rings around the box, as fractions of the box's size
MIN_RISE = 0.01       # metres an object must stand out from its support surface
MIN_POINTS = 8        # fewest depth samples that make a usable surface
EDGE_STEP = 2         # pixels to the neighbours that tell a depth edge
# (row, column) offsets of the neighbours that tell an edge: diagonal and opposite, so an
# edge in either direction is seen from both of its sides alike.
NEIGHBOURS = np.array([(EDGE_STEP, EDGE_STEP), (-EDGE_STEP, -EDGE_STEP)])
RANSAC_TRIALS = 24
RANSAC_FRACTIONS = np.random.default_rng(0).random((RANSAC_TRIALS, 3))


def _box_grid(boxes, width, height, count):
    """
    Sample pixel centres of each box on a count x count grid.

    Returns (columns, rows), each (N, count * count) int64 inside the image: the
    pixels j, i whose centres j + 0.5, i + 0.5 lie in the box; a box narrower than
    ``count`` pixels repeats its columns evenly.
    """
    fractions = (np.arange(count) + 0.5) / count
    x0 = np.ceil(boxes[:, 0] - 0.5)
    y0 = np.ceil(boxes[:, 1] - 0.5)
    x1 = np.maximum(np.ceil(boxes[:, 2] - 0.5), x0 + 1)   # exclusive pixel bounds
    y1 = np.maximum(np.ceil(boxes[:, 3] - 0.5), y0 + 1)
    columns = np.floor(x0[:, None] + fractions[None, :] * (x1 - x0)[:, None])
    rows = np.floor(y0[:, None] + fractions[None, :] * (y1 - y0)[:, None])
    columns = np.clip(columns, 0, width - 1).astype(np.int64)
    rows = np.clip(rows, 0, height - 1).astype(np.int64)
    grid_columns = np.broadcast_to(columns[:, None, :], (len(boxes), count, count))
    grid_rows = np.broadcast_to(rows[:, :, None], (len(boxes), count, count))
    return grid_columns.reshape(len(boxes), -1), grid_rows.reshape(len(boxes), -1)


def _ring_pattern():
    """Return (across, down, margin) (R,): where ring samples sit on the padded box."""
    t = (np.arange(RING_SAMPLES) + 0.5) / RING_SAMPLES
    zeros, ones = np.zeros_like(t), np.ones_like(t)
    # Top, bottom, left and right sides, as fractions of the padded box's width and height.
    across = np.concatenate([t, t, zeros, ones])
    down = np.concatenate([zeros, ones, t, t])
    count = len(across)
    return (np.tile(across, len(RING_MARGINS)), np.tile(down, len(RING_MARGINS)),
            np.repeat(RING_MARGINS, count))


RING_ACROSS, RING_DOWN, RING_MARGIN = _ring_pattern()


def _ring(boxes, width, height):
    """
    Sample pixels on rings around each box (its likely support surface).

    Returns (columns, rows, outside): (N, R) int64 pixels clamped into the image
    and whether each one lies outside the box (clamping can pull a ring inside).
    """
    box_width, box_height = boxes[:, 2:3] - boxes[:, 0:1], boxes[:, 3:4] - boxes[:, 1:2]
    pad = np.maximum(np.maximum(box_width, box_height) * RING_MARGIN, 3.0)     # (N, R)
    x = boxes[:, 0:1] - pad + RING_ACROSS * (box_width + 2 * pad)
    y = boxes[:, 1:2] - pad + RING_DOWN * (box_height + 2 * pad)
    x = np.clip(np.floor(x), 0, width - 1)
    y = np.clip(np.floor(y), 0, height - 1)
    inside = ((x + 0.5 >= boxes[:, 0:1]) & (x + 0.5 < boxes[:, 2:3])
              & (y + 0.5 >= boxes[:, 1:2]) & (y + 0.5 < boxes[:, 3:4]))
    return x.astype(np.int64), y.astype(np.int64), ~inside


def _metres(depth, rows, columns, depth_scale, depth_range):
    """Gather depth at (rows, columns) in metres, float32; NaN where there is no reading."""
    # np.take on the flat image is several times faster than 2-D fancy indexing.
    z = np.take(depth.reshape(-1), rows * depth.shape[1] + columns).astype(np.float32)
    if depth_scale != 1.0:
        z *= np.float32(depth_scale)
    low, high = depth_range
    with np.errstate(invalid='ignore'):
        z[~((z >= low) & (z <= high))] = np.nan   # also NaN and inf
    return z


def _row_mean(values, mask):
    """Mean over axis 1 of ``values`` where ``mask``; NaN for a row with nothing."""
    total = np.where(mask, values, 0.0).sum(axis=1)
    count = mask.sum(axis=1)
    with np.errstate(invalid='ignore', divide='ignore'):
        return total / count


def _fit_inverse_depth_planes(u, v, z):
    """
    Fit a plane to each row's points robustly (RANSAC, then least squares on inliers).

    A plane in space is linear in inverse depth over the pixel grid:
    1 / z = a u + b v + c. ``u``, ``v``, ``z``: (N, R), z NaN where missing. Returns
    (coefficients (N, 3), inlier tolerance (N,) metres, valid (N,) bool): valid where
    the plane holds at least half of the row's readings, which spread in both axes.
    """
    count, ring = z.shape
    valid = np.isfinite(z)
    w = np.where(valid, 1.0 / np.where(valid, z, 1.0), 0.0)
    design = np.stack([u, v, np.ones_like(u)], axis=2)                    # (N, R, 3)
    # Candidate planes through three readings of each row, drawn by fixed random fractions
    # (the same every call, so results are repeatable).
    order = np.argsort(~valid, axis=1, kind='stable')                     # readings first
    readings = valid.sum(axis=1)
    picks = (RANSAC_FRACTIONS[None] * np.maximum(readings, 1)[:, None, None]).astype(np.int64)
    picks = np.take_along_axis(order, picks.reshape(count, -1), axis=1)
    picks = picks.reshape(count, RANSAC_TRIALS, 3)
    # The plane w = a u + b v + c through three points (u, v, w): from the cross product.
    rows = np.arange(count)[:, None, None]
    pu, pv, pw = u[rows, picks], v[rows, picks], w[rows, picks]           # (N, T, 3)
    du, dv, dw = pu[..., 1:] - pu[..., :1], pv[..., 1:] - pv[..., :1], pw[..., 1:] - pw[..., :1]
    normal_u = dv[..., 0] * dw[..., 1] - dw[..., 0] * dv[..., 1]
    normal_v = dw[..., 0] * du[..., 1] - du[..., 0] * dw[..., 1]
    normal_w = du[..., 0] * dv[..., 1] - dv[..., 0] * du[..., 1]          # twice the area
    usable = np.abs(normal_w) > 1.0                                       # not collinear
    normal_w = np.where(usable, normal_w, 1.0)
    a, b = -normal_u / normal_w, -normal_v / normal_w
    candidates = np.stack([a, b, pw[..., 0] - a * pu[..., 0] - b * pv[..., 0]], axis=2)
    # Tolerance: 1.5 % of the depth (RGB-D noise is well under that), in inverse depth.
    mean_z = np.nan_to_num(_row_mean(z, valid), nan=1.0)
    tolerance = np.maximum(0.015 * mean_z, 0.004)
    inverse_tolerance = (tolerance / mean_z ** 2)[:, None, None]
    predicted = (candidates.astype(np.float32)
                 @ design.astype(np.float32).transpose(0, 2, 1))            # (N, T, R)
    predicted -= w.astype(np.float32)[:, None, :]
    inliers = (np.abs(predicted) < inverse_tolerance) & valid[:, None, :]
    inliers &= usable[:, :, None]
    best = inliers.sum(axis=2).argmax(axis=1)
    chosen = inliers[np.arange(count), best]                              # (N, R)
    # Least squares on the inliers of the best candidate.
    weighted = design * chosen[:, :, None]
    normal = weighted.transpose(0, 2, 1) @ design + np.eye(3) * 1e-9
    rhs = (weighted * w[:, :, None]).sum(axis=1)
    coefficients = np.linalg.solve(normal, rhs[..., None])[..., 0]
    spread = np.minimum(np.where(chosen, u, -np.inf).max(axis=1)
                        - np.where(chosen, u, np.inf).min(axis=1),
                        np.where(chosen, v, -np.inf).max(axis=1)
                        - np.where(chosen, v, np.inf).min(axis=1))
    good = (chosen.sum(axis=1) >= np.maximum(0.5 * readings, MIN_POINTS)) & (spread > 2.0)
    return coefficients, tolerance, good & np.isfinite(coefficients).all(axis=1)


def _dominant_run(values, keep, bin_width, nearest):
    """
    Choose one cluster of ``values`` per row: a run of consecutive occupied bins.

    ``values`` (N, M) with ``keep`` (N, M) marking candidates; ``bin_width`` (N,).
    A bin is occupied when it holds at least 1 % of the row's candidates, so a few
    stray readings do not bridge two clusters. Among the runs holding at least 40 %
    as many candidates as the largest: the one with the highest values when
    ``nearest`` is 'high', else the largest. Returns (N, M) bool: the candidates
    in the chosen run.
    """
    count = len(values)
    bins = 64
    low = np.where(keep, values, np.inf).min(axis=1)
    low[~np.isfinite(low)] = 0.0
    with np.errstate(invalid='ignore'):
        index = (values - low[:, None]) / bin_width[:, None]
    index = np.clip(np.nan_to_num(index), 0, bins - 1).astype(np.int64)
    offsets = np.arange(count)[:, None]
    histogram = np.bincount((offsets * bins + index)[keep], minlength=count * bins)
    histogram = histogram.reshape(count, bins)
    occupied = histogram >= np.maximum(1, 0.01 * keep.sum(axis=1))[:, None]
    starts = occupied.copy()
    starts[:, 1:] &= ~occupied[:, :-1]
    run_of_bin = np.cumsum(starts, axis=1) * occupied             # 0: empty bin, else 1..
    run_total = np.bincount((offsets * (bins + 1) + run_of_bin).reshape(-1),
                            histogram.reshape(-1), minlength=count * (bins + 1))
    run_total = run_total.reshape(count, bins + 1)
    run_total[:, 0] = 0
    if nearest == 'high':
        # Runs are numbered from low values to high: the last strong one is the highest.
        strong = (run_total >= 0.4 * run_total.max(axis=1, keepdims=True)) & (run_total > 0)
        chosen = np.where(strong, np.arange(bins + 1)[None, :], -1).argmax(axis=1)
    else:
        chosen = run_total.argmax(axis=1)
    return keep & (np.take_along_axis(run_of_bin, index, axis=1) == chosen[:, None])


def locate_objects(depth, intrinsics, boxes, depth_scale=1.0, depth_range=(0.1, 10.0)):
    """
    Find where in space each detection box's object is, from a registered depth image.

    ``depth``: (H, W) uint16 or float32, registered to the colour frame the boxes
    are in; ``depth_scale`` turns its values into metres (0.001 for millimetres);
    values outside ``depth_range`` (min, max) metres, 0, NaN and inf are no reading.
    ``intrinsics``: PinholeIntrinsics of that frame. ``boxes``: (N, 4) x_min,
    y_min, x_max, y_max in pixels. Returns ObjectsInSpace.

    A box holds the object and whatever is behind it (the table under a mug), so
    its mean or centre pixel is not the object. Per box:

    1. the support surface: a plane fitted robustly (RANSAC in inverse depth) to
       rings of pixels around the box;
    2. the object: the box's pixels standing out from that plane towards the camera
       by more than ``MIN_RISE`` (or the plane's tolerance, if larger), without
       the pixels at depth edges (flying pixels between object and background).
       Of those, the dominant cluster in height above the plane, so that a second
       object reaching into the box is not mixed in;
    3. without a usable plane (cluttered or missing surroundings): the nearest
       dominant mode of the box's depth; with a plane but nothing standing out
       (a flat thing lying on it): the box's own patch of the plane.

    The kept pixels are back-projected; their mean is the position, their extent
    (max - min per axis) the size. Vectorised over boxes on a fixed grid of
    ``SAMPLES`` x ``SAMPLES`` pixels per box; no loop over pixels.
    """
    depth = np.ascontiguousarray(depth)   # flat indexing below; a copy only when strided
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    count = len(boxes)
    positions = np.full((count, 3), np.nan, np.float32)
    sizes = positions.copy()
    if count == 0:
        return ObjectsInSpace(positions, sizes, np.zeros(0, np.int64))
    if depth.ndim != 2:
        raise GeometryError(f'depth must be one channel (H, W), got shape {depth.shape}')
    height, width = depth.shape
    depth_range = (float(depth_range[0]), float(depth_range[1]))

    columns, rows = _box_grid(boxes, width, height, SAMPLES)
    z = _metres(depth, rows, columns, depth_scale, depth_range)           # (N, M)
    valid = np.isfinite(z)
    neighbour_rows = np.clip(rows + NEIGHBOURS[:, 0, None, None], 0, height - 1)
    neighbour_columns = np.clip(columns + NEIGHBOURS[:, 1, None, None], 0, width - 1)
    neighbours = _metres(depth, neighbour_rows, neighbour_columns, depth_scale,
                         depth_range)                                     # (2, N, M)
    columns = columns.astype(np.float32)
    rows = rows.astype(np.float32)

    ring_columns, ring_rows, outside = _ring(boxes, width, height)
    ring_z = _metres(depth, ring_rows, ring_columns, depth_scale, depth_range)
    ring_z[~outside] = np.nan
    plane, tolerance, has_plane = _fit_inverse_depth_planes(
        ring_columns.astype(np.float64), ring_rows.astype(np.float64), ring_z)
    plane = plane.astype(np.float32)
    inverse = plane[:, 0:1] * columns + plane[:, 1:2] * rows + plane[:, 2:3]
    min_rise = np.maximum(MIN_RISE, tolerance).astype(np.float32)
    with np.errstate(invalid='ignore', divide='ignore'):
        rise = (1.0 - inverse * z) / inverse                              # plane depth - z
        # Depth edges: a diagonal neighbour EDGE_STEP pixels away differs by more than
        # MIN_RISE in height above the plane (in depth where there is no plane). That
        # drops flying pixels (whose depth mixes object and background) and a thin rim
        # of the object itself, evenly on all sides. Heights, not depths: a surface
        # seen at a slant (a far table top) changes depth by more than that from pixel
        # to pixel, and would be all edge.
        neighbour_inverse = (plane[:, 0:1] * neighbour_columns + plane[:, 1:2]
                             * neighbour_rows + plane[:, 2:3])
        step = np.where(has_plane[:, None],
                        (1.0 - neighbour_inverse * neighbours) / neighbour_inverse - rise,
                        neighbours - z)
        edge = (np.abs(step) > MIN_RISE).any(axis=0)
    usable = valid & ~edge
    with np.errstate(invalid='ignore'):
        standing = usable & (rise > min_rise[:, None]) & has_plane[:, None]
    stands_out = standing.sum(axis=1) >= np.maximum(MIN_POINTS, 0.05 * valid.sum(axis=1))
    kept = _dominant_run(rise, standing & stands_out[:, None], min_rise, nearest='largest')
    flat = has_plane & ~stands_out
    if flat.any():
        with np.errstate(invalid='ignore'):
            kept |= usable & flat[:, None] & (np.abs(rise) <= min_rise[:, None])
    if not has_plane.all():
        # Nearest dominant mode of depth itself, in bins of 2 % of the depth.
        candidates = usable & ~has_plane[:, None]
        mean_z = np.nan_to_num(_row_mean(z, candidates), nan=1.0)
        kept |= _dominant_run(-z, candidates, np.maximum(0.02 * mean_z, MIN_RISE),
                              nearest='high')

    kept_count = kept.sum(axis=1)
    found = kept_count >= MIN_POINTS
    if found.any():
        kept, z = kept[found], z[found]
        points = np.stack(back_project(columns[found], rows[found], z, intrinsics))  # (3, F, M)
        count_kept = kept.sum(axis=1)
        positions[found] = (np.where(kept, points, 0.0).sum(axis=2) / count_kept).T
        sizes[found] = (np.where(kept, points, -np.inf).max(axis=2)
                        - np.where(kept, points, np.inf).min(axis=2)).T
    return ObjectsInSpace(positions, sizes, kept_count.astype(np.int64))
