# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""The world in 3D: camera and table, prisms, the truth, the sensor, and unchanged images."""

import hashlib
import math

import cv2
import numpy as np
import pytest
from vlm_perception.geometry import back_project
from vlm_perception.world import DepthSensor, SceneGenerator
from vlm_perception.world.depth_sensor import standard_normal
from vlm_perception.world.scene import SQUASH_RANGE, TILT_RANGE
from vlm_perception.world.view import FIELD_OF_VIEW, HEIGHT_RANGE

# sha256 (first 16 hex digits) of the image bytes and of repr([(colour, shape, box)]),
# taken from the generator before the world had depth: these scenes trained the
# shipped model, so they must never change.
SCENES_BEFORE_3D = [
    ((0, 'train', 0), 'bfe8fdd35e769883', '3a0583054266586f'),
    ((0, 'train', 7), 'a044932c7390d02e', 'ecdf7b9a74d4d89a'),
    ((3, 'eval', 2), '468b986b9dc5b38c', 'ca30e9033b55680b'),
    ((20260, 'eval', 11), 'aba7c849ffd46b4f', '8b58dff68ad858a2'),
    ((5, 'train', 123), '600f1cf08e40c17b', '608576616df3c192'),
]


def _digest(data):
    return hashlib.sha256(data).hexdigest()[:16]


def _scene(index=4, sensor=DepthSensor(), **kwargs):
    return SceneGenerator(seed=0, split='eval', sizes=((640, 480),), depth_sensor=sensor,
                          **kwargs).generate(index)


def _points(scene, mask):
    """Back-project the true depth of the pixels in ``mask``: (K, 3)."""
    rows, columns = np.nonzero(mask)
    return np.stack(back_project(columns, rows, scene.depth_truth[rows, columns].astype(
        np.float64), scene.intrinsics), axis=1)


# The image digests were taken with OpenCV 5, whose drawing they fix to the byte; OpenCV
# 4.6 (the robot's, in the compat pass) anti-aliases one pixel of these scenes one level
# apart, so there the images are checked against each other instead.
DIGESTS_OPENCV = 5


def test_images_and_objects_are_what_they_were_before_the_world_had_depth():
    same_opencv = int(cv2.__version__.split('.')[0]) == DIGESTS_OPENCV
    for (seed, split, index), image_digest, objects_digest in SCENES_BEFORE_3D:
        with_depth, without = (SceneGenerator(seed=seed, split=split, depth=depth).generate(
            index) for depth in (True, False))
        assert np.array_equal(with_depth.image, without.image), (seed, split, index)
        if same_opencv:
            assert _digest(with_depth.image.tobytes()) == image_digest, (seed, split, index)
        for scene in (with_depth, without):
            flat = repr([(obj.colour, obj.shape, obj.box) for obj in scene.objects])
            assert _digest(flat.encode()) == objects_digest, (seed, split, index)


def test_the_same_index_gives_the_same_depth_camera_and_truth():
    first = SceneGenerator(seed=2, split='eval')
    in_order = [first.generate() for _ in range(3)]
    again = SceneGenerator(seed=2, split='eval').generate(2)
    assert np.array_equal(in_order[2].depth, again.depth)
    assert np.array_equal(in_order[2].depth_truth, again.depth_truth)
    assert in_order[2].view == again.view and in_order[2].objects == again.objects
    assert in_order[1].view != again.view
    # Without depth the camera and heights are the same, and nothing is rendered.
    flat = SceneGenerator(seed=2, split='eval', depth=False).generate(2)
    assert flat.view == again.view and flat.depth is None and flat.depth_truth is None
    assert [obj.top_height for obj in flat.objects] == [obj.top_height for obj in again.objects]
    assert all(obj.position_3d is None for obj in flat.objects)


def test_camera_intrinsics_and_pose_are_plausible_and_follow_the_ranges():
    generator = SceneGenerator(seed=1, split='eval', distance_range=(0.6, 0.8))
    for index in range(30):
        scene = generator.generate(index)
        height, width = scene.image.shape[:2]
        fx, fy, cx, cy = scene.intrinsics
        fov = math.degrees(2 * math.atan(width / 2 / fx))
        assert FIELD_OF_VIEW[0] <= fov <= FIELD_OF_VIEW[1]
        assert abs(fy / fx - 1) <= 0.005
        assert abs(cx - (width - 1) / 2) <= 0.02 * width
        assert abs(cy - (height - 1) / 2) <= 0.02 * height
        assert (cx, cy) != ((width - 1) / 2, (height - 1) / 2)
        assert 0.6 <= scene.view.distance <= 0.8
        # The default tilt range makes cos(tilt) the scene's squash.
        assert SQUASH_RANGE[0] <= math.cos(math.radians(scene.view.tilt)) <= SQUASH_RANGE[1]
        assert all(HEIGHT_RANGE[0] <= obj.top_height <= HEIGHT_RANGE[1]
                   for obj in scene.objects)
    tilts = [SceneGenerator(seed=1, tilt_range=(10.0, 20.0)).generate(i).view.tilt
             for i in range(10)]
    assert min(tilts) >= 10.0 and max(tilts) <= 20.0 and max(tilts) - min(tilts) > 2.0
    # Another range maps the same squash to the same place in it.
    gentle = SceneGenerator(seed=1, tilt_range=(0.0, TILT_RANGE[1] / 2)).generate(0)
    assert gentle.view.tilt == pytest.approx(SceneGenerator(seed=1).generate(0).view.tilt / 2)


@pytest.mark.parametrize('ranges', [{'distance_range': (0.0, 1.0)},
                                    {'distance_range': (1.0, 0.5)},
                                    {'tilt_range': (-5.0, 10.0)},
                                    {'tilt_range': (10.0, 70.0)}])
def test_impossible_camera_ranges_are_refused(ranges):
    with pytest.raises(ValueError):
        SceneGenerator(**ranges)


def test_the_table_is_one_plane_seen_where_the_pose_puts_it():
    scene = _scene()
    table = _points(scene, scene.labels == -1)
    view = scene.view
    # Every table point lies on normal . X = distance cos(tilt), to float32 precision.
    np.testing.assert_allclose(table @ view.normal, view.plane_offset(0.0), rtol=1e-6)
    # A plane fitted to them (without the pose) is coplanar and has the same normal.
    centred = table - table.mean(axis=0)
    _, singular, axes = np.linalg.svd(centred[::50], full_matrices=False)
    assert singular[2] / singular[0] < 1e-5
    assert abs(abs(axes[2] @ view.normal) - 1.0) < 1e-6
    # The optical axis meets the table at the pose's distance.
    assert view.plane_offset(0.0) / view.normal[2] == pytest.approx(view.distance)
    # The top of the frame sees farther than the bottom (looking down at a slant).
    assert scene.depth_truth[0].min() > scene.depth_truth[-1].max()


def test_each_object_shows_its_top_face_at_its_height():
    scene = _scene()
    for index, obj in enumerate(scene.objects):
        top = _points(scene, scene.labels == index)
        heights = scene.view.plane_offset(0.0) - top @ scene.view.normal
        np.testing.assert_allclose(heights, obj.top_height, atol=1e-5)
    # Later objects hide earlier ones, as in the image: pixels go to the last drawn.
    assert set(np.unique(scene.labels)) <= set(range(-1, len(scene.objects)))


def test_truth_is_the_mean_and_extent_of_the_visible_surface():
    scene = _scene()
    for index, obj in enumerate(scene.objects):
        points = _points(scene, scene.labels == index)
        np.testing.assert_allclose(obj.position_3d, points.mean(axis=0), atol=1e-6)
        np.testing.assert_allclose(obj.size_3d, np.ptp(points, axis=0), atol=1e-6)
        # The visible surface lies inside the object's box.
        rows, columns = np.nonzero(scene.labels == index)
        x0, y0, x1, y1 = obj.box
        assert x0 <= columns.min() + 0.5 and columns.max() + 0.5 <= x1
        assert y0 <= rows.min() + 0.5 and rows.max() + 0.5 <= y1


def test_an_ideal_sensor_reads_the_true_depth_in_millimetres():
    scene = _scene(sensor=DepthSensor.ideal())
    assert scene.depth.dtype == np.uint16 and scene.depth.shape == scene.image.shape[:2]
    np.testing.assert_array_equal(scene.depth, np.rint(scene.depth_truth * 1000))
    assert (scene.depth > 0).all()


def test_the_sensor_adds_noise_that_grows_with_the_square_of_the_distance():
    sensor = DepthSensor(holes=0.0, edge_missing=0.0, edge_flying=0.0, baseline=0.0)
    scene = _scene(6, sensor)        # tilted 40 degrees: the table runs from ~0.7 to ~1.7 m
    table = (scene.labels == -1) & (scene.depth > 0)
    error = scene.depth / 1000.0 - scene.depth_truth
    spreads = []
    for rows in (slice(0, 40), slice(-40, None)):
        z = scene.depth_truth[rows][table[rows]]
        spreads.append((error[rows][table[rows]].std(), z.mean()))
    (far_std, far_z), (near_std, near_z) = spreads
    assert far_z > 1.8 * near_z
    assert far_std / near_std == pytest.approx((far_z / near_z) ** 2, rel=0.15)
    assert near_std == pytest.approx(0.0025 * near_z ** 2, rel=0.25)
    # The worst readings (beyond 3 sigma) are dropped, about 0.27 % of them.
    assert 0.001 < (scene.depth == 0).mean() < 0.005


def test_the_sensor_loses_readings_in_holes_at_edges_and_in_a_band_at_one_side():
    scene = _scene()
    missing = scene.depth == 0
    assert 0.01 < missing.mean() < 0.15
    # A band at one side: the first (or last) columns read nothing in every row.
    left, right = missing[:, :4].all(), missing[:, -4:].all()
    assert left != right
    # Object outlines (away from the band): the 3x3 neighbourhood spans two surfaces.
    windows = np.lib.stride_tricks.sliding_window_view(
        np.pad(scene.depth_truth, 1, mode='edge'), (3, 3))
    near, far = windows.min(axis=(2, 3)), windows.max(axis=(2, 3))
    edges = far - near > 0.015
    edges[:, :60] = edges[:, -60:] = False
    assert edges.sum() > 500
    assert 0.2 < missing[edges].mean() < 0.6
    # Some of them read a flying depth between the two surfaces.
    reading = scene.depth / 1000.0
    flying = (reading > near + 0.005) & (reading < far - 0.005)
    assert flying[edges].mean() > 0.15
    # Away from edges, readings are the truth plus a few millimetres.
    inside = ~missing & ~edges
    assert np.median(np.abs(reading - scene.depth_truth)[inside]) < 0.003
    assert np.abs(reading - scene.depth_truth)[inside].max() < 0.05


def test_standard_normal_is_standard_normal():
    values = standard_normal(np.random.default_rng(0), (400, 500))
    assert values.dtype == np.float32
    assert abs(values.mean()) < 0.01 and abs(values.std() - 1.0) < 0.01
    assert abs((np.abs(values) > 3.0).mean() - 0.0027) < 0.0005
