# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests of vlm_perception.geometry: camera models, back-projection, where objects are."""

import math

import numpy as np
import pytest

from vlm_perception.geometry import (
    back_project, GeometryError, intrinsics_from_camera_info, locate_objects, PinholeIntrinsics,
    project)

K_640 = [610.0, 0.0, 330.5, 0.0, 605.0, 236.25, 0.0, 0.0, 1.0]
P_640 = [600.0, 0.0, 322.0, 0.0, 0.0, 598.0, 241.0, 0.0, 0.0, 0.0, 1.0, 0.0]


def test_back_projection_matches_hand_computed_points():
    camera = PinholeIntrinsics(fx=600.0, fy=500.0, cx=330.0, cy=250.0)
    x, y, z = back_project(np.array([330.0, 630.0, 30.0]), np.array([250.0, 0.0, 500.0]),
                           np.array([1.0, 2.0, 0.5]), camera)
    np.testing.assert_allclose(x, [0.0, 300 * 2 / 600, -300 * 0.5 / 600])
    np.testing.assert_allclose(y, [0.0, -250 * 2 / 500, 250 * 0.5 / 500])
    np.testing.assert_allclose(z, [1.0, 2.0, 0.5])
    u, v = project(x, y, z, camera)
    np.testing.assert_allclose(u, [330.0, 630.0, 30.0])
    np.testing.assert_allclose(v, [250.0, 0.0, 500.0])


def test_camera_info_uses_p_where_set_else_k():
    assert intrinsics_from_camera_info(K_640, P_640, 640, 480, 640, 480) == \
        PinholeIntrinsics(600.0, 598.0, 322.0, 241.0)
    assert intrinsics_from_camera_info(K_640, [0.0] * 12, 640, 480, 640, 480) == \
        PinholeIntrinsics(610.0, 605.0, 330.5, 236.25)


def test_scaled_frames_get_scaled_intrinsics_about_pixel_centres():
    # Half size: pixel centre u maps to (u + 0.5) / 2 - 0.5.
    half = intrinsics_from_camera_info(K_640, [0.0] * 12, 640, 480, 320, 240)
    assert half == PinholeIntrinsics(305.0, 302.5, (330.5 + 0.5) / 2 - 0.5,
                                     (236.25 + 0.5) / 2 - 0.5)
    # The same point seen in both frames lands on corresponding continuous coordinates.
    full = intrinsics_from_camera_info(K_640, [0.0] * 12, 640, 480, 640, 480)
    u_full, v_full = project(0.1, -0.05, 0.8, full)
    u_half, v_half = project(0.1, -0.05, 0.8, half)
    assert math.isclose(u_half + 0.5, (u_full + 0.5) / 2)
    assert math.isclose(v_half + 0.5, (v_full + 0.5) / 2)
    # Unset width/height in camera_info: the frame's own size, nothing scaled.
    assert intrinsics_from_camera_info(K_640, [0.0] * 12, 0, 0, 320, 240) == full


def test_a_region_of_interest_moves_the_principal_point():
    camera = intrinsics_from_camera_info(K_640, [0.0] * 12, 640, 480, 200, 100,
                                         roi=(100, 50, 200, 100))
    assert camera == PinholeIntrinsics(610.0, 605.0, 230.5, 186.25)


@pytest.mark.parametrize('k, p, size, reason', [
    ([0.0] * 9, [0.0] * 12, (640, 480), 'focal length'),
    ([math.nan] * 9, [0.0] * 12, (640, 480), 'focal length'),
    (K_640, [0.0] * 12, (640, 360), 'aspect ratio'),
    ([1.0, 2.0], [], (640, 480), 'K of 2'),
])
def test_unusable_camera_info_is_refused_with_the_reason(k, p, size, reason):
    with pytest.raises(GeometryError, match=reason):
        intrinsics_from_camera_info(k, p, 640, 480, *size)


def test_back_projection_agrees_with_image_geometry_where_installed():
    image_geometry = pytest.importorskip('image_geometry')
    from sensor_msgs.msg import CameraInfo

    info = CameraInfo(width=640, height=480, k=K_640, p=P_640,
                      r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0])
    model = image_geometry.PinholeCameraModel()
    model.fromCameraInfo(info)
    camera = intrinsics_from_camera_info(info.k, info.p, 640, 480, 640, 480)
    for u, v in ((0.0, 0.0), (322.0, 241.0), (639.0, 17.5)):
        ray = np.array(model.projectPixelTo3dRay((u, v)))
        x, y, z = back_project(u, v, 1.0, camera)
        np.testing.assert_allclose(ray / ray[2], [x, y, z], atol=1e-9)


# A tabletop scene: camera 0.7 m from the table, tilted, objects as raised flat tops.
CAMERA = PinholeIntrinsics(520.0, 515.0, 325.0, 238.0)
WIDTH, HEIGHT = 640, 480


def table_depth(distance=0.7, tilt_deg=35.0):
    """Depth (H, W) float64 of a plane seen from ``distance`` at a tilt about the x axis."""
    tilt = math.radians(tilt_deg)
    v, u = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    # Plane normal in the optical frame; the plane is n . X = distance.
    ray_y, ray_z = (v - CAMERA.cy) / CAMERA.fy, 1.0
    return distance / (math.sin(tilt) * ray_y + math.cos(tilt) * ray_z) + 0.0 * u


def raised(depth, distance, rise):
    """Depth of the plane parallel to the table, ``rise`` metres nearer the camera."""
    return depth * (distance - rise) / distance


def disc(cx, cy, radius):
    v, u = np.mgrid[0:HEIGHT, 0:WIDTH]
    return (u - cx) ** 2 + (v - cy) ** 2 < radius ** 2


def truth_of(depth, mask):
    v, u = np.nonzero(mask)
    x, y, z = back_project(u, v, depth[v, u], CAMERA)
    points = np.stack([x, y, z], axis=1)
    return points.mean(axis=0), points.max(axis=0) - points.min(axis=0)


def mug_scene(rise=0.04, centre=(300, 260), radius=45):
    table = table_depth()
    mask = disc(*centre, radius)
    depth = np.where(mask, raised(table, 0.7, rise), table)
    box = [centre[0] - radius, centre[1] - radius, centre[0] + radius, centre[1] + radius]
    return depth, mask, np.array([box], np.float64)


def millimetres(depth):
    return np.round(depth * 1000.0).astype(np.uint16)


def test_an_object_on_a_tilted_table_is_found_not_the_table_around_it():
    depth, mask, boxes = mug_scene()
    truth, extent = truth_of(depth, mask)
    found = locate_objects(millimetres(depth), CAMERA, boxes, depth_scale=0.001)
    # The box's mean depth and its centre pixel are both off by centimetres here.
    box_mean = depth[int(boxes[0, 1]):int(boxes[0, 3]), int(boxes[0, 0]):int(boxes[0, 2])].mean()
    assert abs(box_mean - truth[2]) > 0.005
    np.testing.assert_allclose(found.positions[0], truth, atol=0.003)
    np.testing.assert_allclose(found.sizes[0], extent, atol=0.015)
    assert found.points[0] > 300


def test_holes_and_sensor_noise_do_not_move_the_centroid():
    rng = np.random.default_rng(3)
    depth, mask, boxes = mug_scene()
    truth, _ = truth_of(depth, mask)
    noisy = depth + rng.normal(0.0, 0.002, depth.shape) * depth ** 2
    sensor = millimetres(noisy)
    sensor[rng.random(depth.shape) < 0.2] = 0            # 20 % holes
    found = locate_objects(sensor, CAMERA, boxes, depth_scale=0.001)
    np.testing.assert_allclose(found.positions[0], truth, atol=0.004)


def test_flying_pixels_at_the_edges_are_left_out():
    depth, mask, boxes = mug_scene()
    truth, extent = truth_of(depth, mask)
    table = table_depth()
    # A three-pixel rim on the right of the object whose readings lie between object
    # and table, as sensors give where a background shows beside an edge.
    v, u = np.mgrid[0:HEIGHT, 0:WIDTH]
    rim = disc(300, 260, 48) & ~mask & (u > 300)
    flying = np.where(rim, raised(table, 0.7, 0.02), depth)
    # Everything standing out of the table, rim included, would be off by millimetres.
    naive, _ = truth_of(flying, mask | rim)
    assert np.linalg.norm(naive - truth) > 0.0015
    found = locate_objects(millimetres(flying), CAMERA, boxes + [-3, -3, 3, 3],
                           depth_scale=0.001)
    np.testing.assert_allclose(found.positions[0], truth, atol=0.001)
    assert found.sizes[0, 0] < extent[0] + 0.005


def test_a_top_face_seen_at_a_slant_is_not_taken_for_depth_edges():
    # A 320x240 camera 0.85 m from a table tilted 40 degrees: at the top of the frame the
    # table lies 1.6 m away and its depth changes by 8 mm from one row to the next, more
    # than an object's edge (1 cm) over the two pixels the edge test looks across.
    camera = PinholeIntrinsics(260.0, 260.0, 160.0, 120.0)
    tilt = math.radians(40.0)
    v, u = np.mgrid[0:240, 0:320].astype(np.float64)
    scale = math.sin(tilt) * (v - camera.cy) / camera.fy + math.cos(tilt)
    offset = 0.85 * math.cos(tilt)
    top = (u - 160) ** 2 + (v - 55) ** 2 < 40 ** 2          # a round top 5 cm high
    depth = np.where(top, offset - 0.05, offset) / scale
    rows, columns = np.nonzero(top)
    truth = np.stack(back_project(columns, rows, depth[rows, columns], camera), axis=1)
    found = locate_objects(millimetres(depth), camera, np.array([[120.0, 15, 200, 95]]),
                           depth_scale=0.001)
    # Judged by depth steps alone, only the nearest rows of the top were kept: 1-2 cm off.
    np.testing.assert_allclose(found.positions[0], truth.mean(axis=0), atol=0.004)
    np.testing.assert_allclose(found.sizes[0], np.ptp(truth, axis=0), rtol=0.15)


def test_a_second_object_reaching_into_the_box_is_not_mixed_in():
    table = table_depth()
    near = disc(300, 260, 45)
    other = disc(360, 260, 30) & ~near       # a taller neighbour overlapping the box
    depth = np.where(near, raised(table, 0.7, 0.03), table)
    depth = np.where(other, raised(table, 0.7, 0.12), depth)
    truth, _ = truth_of(depth, near)
    found = locate_objects(millimetres(depth), CAMERA, np.array([[255.0, 215, 345, 305]]),
                           depth_scale=0.001)
    np.testing.assert_allclose(found.positions[0], truth, atol=0.006)


def test_an_all_invalid_box_gives_nan_and_the_others_are_unaffected():
    depth, mask, boxes = mug_scene()
    sensor = millimetres(depth)
    sensor[0:100, 0:100] = 0
    found = locate_objects(sensor, CAMERA, np.vstack([boxes, [[10.0, 10, 90, 90]]]),
                           depth_scale=0.001)
    assert np.isfinite(found.positions[0]).all()
    assert np.isnan(found.positions[1]).all() and np.isnan(found.sizes[1]).all()
    assert found.points[1] == 0


def test_readings_outside_the_depth_range_count_as_none():
    depth, mask, boxes = mug_scene()
    sensor = depth.astype(np.float32)
    sensor[mask] = 25.0                                  # beyond depth_max
    found = locate_objects(sensor, CAMERA, boxes, depth_range=(0.1, 10.0))
    # Only the table is left in the box: a flat patch of it, not the object's height.
    assert found.positions[0, 2] > truth_of(depth, mask)[0][2] + 0.02


def test_without_a_support_plane_the_nearest_dominant_depth_is_taken():
    # An object held up in front of clutter: no plane around it.
    rng = np.random.default_rng(5)
    depth = rng.uniform(1.5, 4.0, (HEIGHT, WIDTH))
    mask = disc(320, 240, 50)
    depth[mask] = 0.6 + rng.normal(0.0, 0.001, mask.sum())
    truth, _ = truth_of(np.where(mask, 0.6, depth), mask)
    found = locate_objects(depth.astype(np.float32), CAMERA, np.array([[268.0, 188, 372, 292]]))
    np.testing.assert_allclose(found.positions[0], truth, atol=0.004)


def test_a_flat_thing_on_the_table_gives_the_patch_of_the_table_under_its_box():
    table = table_depth()
    found = locate_objects(millimetres(table), CAMERA, np.array([[280.0, 220, 340, 280]]),
                           depth_scale=0.001)
    truth, _ = truth_of(table, (np.mgrid[0:HEIGHT, 0:WIDTH][1] >= 280)
                        & (np.mgrid[0:HEIGHT, 0:WIDTH][1] < 340)
                        & (np.mgrid[0:HEIGHT, 0:WIDTH][0] >= 220)
                        & (np.mgrid[0:HEIGHT, 0:WIDTH][0] < 280))
    np.testing.assert_allclose(found.positions[0], truth, atol=0.003)


def test_boxes_at_and_beyond_the_image_border_work():
    depth, mask, _ = mug_scene(centre=(40, 40), radius=45)
    boxes = np.array([[-5.0, -5.0, 85.0, 85.0], [600.0, 440.0, 700.0, 520.0]])
    found = locate_objects(millimetres(depth), CAMERA, boxes, depth_scale=0.001)
    assert np.isfinite(found.positions).all()
    assert found.positions[0, 0] < 0 and found.positions[1, 0] > 0


def test_no_boxes_and_bad_depth_shapes():
    found = locate_objects(np.zeros((4, 4), np.uint16), CAMERA, np.zeros((0, 4)))
    assert found.positions.shape == (0, 3) and found.sizes.shape == (0, 3)
    with pytest.raises(GeometryError, match='one channel'):
        locate_objects(np.zeros((4, 4, 3), np.uint16), CAMERA, np.zeros((1, 4)))
