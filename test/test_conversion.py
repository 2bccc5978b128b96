# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests of vlm_perception.conversion on real sensor_msgs/std_msgs messages."""

import array
import types

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from vlm_perception.conversion import (
    array_to_image, depth_to_array, distance_label, draw_detections, encode_rgb, image_to_array,
    ImageConversionError, LAYOUTS, msg_to_arrays, PALETTE, result_to_msg, SUPPORTED_ENCODINGS)

EIGHT_BIT_VIEWS = ['rgb8', 'bgr8', '8UC3', 'rgba8', 'bgra8', '8UC4', 'mono8', '8UC1']
SIXTEEN_BIT_INTENSITY = ['mono16', 'rgb16', 'bgr16', 'rgba16', 'bgra16']
BAYER_PATTERNS = ['rggb', 'bggr', 'gbrg', 'grbg']
YUV = ['uyvy', 'yuv422', 'yuyv', 'yuv422_yuy2']


def smooth_rgb(height=12, width=16):
    """Return a (H, W, 3) uint8 RGB image of gentle gradients (4:2:2 YUV keeps it well)."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([40 + 10 * x, 60 + 12 * y, 200 - 5 * x - 3 * y], axis=2).astype(np.uint8)


def grey_of(rgb):
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def make_msg(raw, encoding, pad=0, bigendian=False, fill=0xEE):
    """
    Build an Image holding ``raw`` (H, W[, C]) with ``pad`` extra bytes per row.

    The padding bytes are ``fill`` so that reading them by mistake shows.
    """
    raw = np.asarray(raw)
    height, width = raw.shape[:2]
    ordered = raw.astype(raw.dtype.newbyteorder('>' if bigendian else '<'))
    rows = np.ascontiguousarray(ordered).reshape(height, -1).view(np.uint8)
    padded = np.full((height, rows.shape[1] + pad), fill, np.uint8)
    padded[:, :rows.shape[1]] = rows
    msg = Image(height=height, width=width, encoding=encoding, is_bigendian=int(bigendian),
                step=padded.shape[1])
    msg.data = array.array('B', padded.tobytes())
    return msg


def data_view(msg):
    return np.frombuffer(msg.data, np.uint8)


@pytest.mark.parametrize('pad', [0, 5])
@pytest.mark.parametrize('encoding', EIGHT_BIT_VIEWS)
def test_eight_bit_encodings_are_read_only_zero_copy_views(encoding, pad):
    rgb = smooth_rgb()
    msg = make_msg(encode_rgb(rgb, encoding), encoding, pad=pad)
    out, order = image_to_array(msg)
    assert out.dtype == np.uint8
    assert np.shares_memory(out, data_view(msg))
    assert not out.flags.writeable
    assert order == LAYOUTS[encoding].order
    if order == 'mono':
        np.testing.assert_array_equal(out, grey_of(rgb))
    else:
        assert out.shape == rgb.shape
        np.testing.assert_array_equal(out if order == 'rgb' else out[:, :, ::-1], rgb)


def test_named_colour_orders():
    assert image_to_array(make_msg(encode_rgb(smooth_rgb(), 'rgb8'), 'rgb8'))[1] == 'rgb'
    assert image_to_array(make_msg(encode_rgb(smooth_rgb(), 'bgra8'), 'bgra8'))[1] == 'bgr'
    # OpenCV's convention: a bare 3-channel type is BGR.
    assert LAYOUTS['8UC3'].order == 'bgr' and LAYOUTS['8UC4'].order == 'bgr'


def test_bytes_data_is_viewed_and_a_list_is_copied():
    rgb = smooth_rgb(4, 6)
    raw = np.ascontiguousarray(rgb)
    as_bytes = types.SimpleNamespace(height=4, width=6, encoding='rgb8', is_bigendian=0,
                                     step=18, data=raw.tobytes())
    out, _ = image_to_array(as_bytes)
    assert np.shares_memory(out, np.frombuffer(as_bytes.data, np.uint8))
    np.testing.assert_array_equal(out, rgb)
    as_list = types.SimpleNamespace(**{**vars(as_bytes), 'data': raw.reshape(-1).tolist()})
    np.testing.assert_array_equal(image_to_array(as_list)[0], rgb)
    wrong = types.SimpleNamespace(**{**vars(as_bytes), 'data': [300] * 72})
    with pytest.raises(ImageConversionError, match='byte sequence'):
        image_to_array(wrong)


def test_data_longer_than_step_times_height_is_ignored_beyond():
    rgb = smooth_rgb(3, 4)
    msg = make_msg(rgb, 'rgb8')
    msg.data.extend(b'\x01' * 10)
    np.testing.assert_array_equal(image_to_array(msg)[0], rgb)


@pytest.mark.parametrize('bigendian', [False, True])
@pytest.mark.parametrize('encoding', SIXTEEN_BIT_INTENSITY)
def test_sixteen_bit_intensity_scales_back_to_eight_bits(encoding, bigendian):
    rgb = smooth_rgb()
    raw = encode_rgb(rgb, encoding)
    assert raw.dtype == np.uint16
    out, order = image_to_array(make_msg(raw, encoding, pad=6, bigendian=bigendian))
    assert out.dtype == np.uint8 and order == LAYOUTS[encoding].order
    if order == 'mono':
        np.testing.assert_array_equal(out, grey_of(rgb))
    else:
        np.testing.assert_array_equal(out if order == 'rgb' else out[:, :, ::-1], rgb)


@pytest.mark.parametrize('bigendian', [False, True])
def test_mono16_uses_the_fixed_cv_bridge_scale_for_every_value(bigendian):
    values = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    out, order = image_to_array(make_msg(values, 'mono16', pad=2, bigendian=bigendian))
    assert order == 'mono'
    expected = np.rint(values.astype(np.float64) * 255.0 / 65535.0).astype(np.uint8)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize('bigendian', [False, True])
def test_16uc1_is_stretched_per_frame(bigendian):
    depth = np.array([[1000, 2100, 3000], [1000, 1000, 3000]], np.uint16)
    out, order = image_to_array(make_msg(depth, '16UC1', pad=2, bigendian=bigendian))
    assert order == 'mono'
    np.testing.assert_array_equal(out, [[0, 140, 255], [0, 0, 255]])
    constant = np.full((2, 3), 4242, np.uint16)
    np.testing.assert_array_equal(image_to_array(make_msg(constant, '16UC1'))[0], 0)


@pytest.mark.parametrize('bigendian', [False, True])
def test_32fc1_is_stretched_over_finite_values(bigendian):
    depth = np.array([[np.nan, 0.5, 1.1], [1.5, np.inf, -np.inf]], np.float32)
    out, order = image_to_array(make_msg(depth, '32FC1', pad=4, bigendian=bigendian))
    assert order == 'mono' and out.dtype == np.uint8
    np.testing.assert_array_equal(out, [[0, 0, 153], [255, 0, 0]])
    all_finite = np.array([[-2.0, 0.5], [2.0, 2.0]], np.float32)
    np.testing.assert_array_equal(image_to_array(make_msg(all_finite, '32FC1'))[0],
                                  [[0, 159], [255, 255]])
    nothing = np.full((2, 2), np.nan, np.float32)
    np.testing.assert_array_equal(image_to_array(make_msg(nothing, '32FC1'))[0], 0)


def quadrant_rgb():
    """Return (16, 16, 3) RGB with four flat 8x8 quadrants of distinct colours."""
    rgb = np.empty((16, 16, 3), np.uint8)
    rgb[:8, :8], rgb[:8, 8:] = (200, 40, 90), (30, 220, 60)
    rgb[8:, :8], rgb[8:, 8:] = (90, 90, 250), (250, 250, 250)
    return rgb


def quadrant_interiors(image):
    """Interior 4x4 blocks of each quadrant, where bilinear demosaicing is exact."""
    return [image[2:6, 2:6], image[2:6, 10:14], image[10:14, 2:6], image[10:14, 10:14]]


@pytest.mark.parametrize('bits', [8, 16])
@pytest.mark.parametrize('pattern', BAYER_PATTERNS)
def test_bayer_demosaics_flat_colours_exactly(pattern, bits):
    rgb = quadrant_rgb()
    encoding = f'bayer_{pattern}{bits}'
    raw = encode_rgb(rgb, encoding)
    assert raw.shape == (16, 16)
    out, order = image_to_array(make_msg(raw, encoding, pad=4, bigendian=bits == 16))
    assert order == 'rgb' and out.shape == (16, 16, 3) and out.dtype == np.uint8
    for got, want in zip(quadrant_interiors(out), quadrant_interiors(rgb)):
        np.testing.assert_array_equal(got, want)


def test_bayer_pattern_matters():
    rgb = quadrant_rgb()
    msg = make_msg(encode_rgb(rgb, 'bayer_rggb8'), 'bayer_bggr8')  # read with the wrong pattern
    out, _ = image_to_array(msg)
    # Red and blue trade places in the interior.
    red_quadrant = quadrant_interiors(rgb)[0]
    np.testing.assert_array_equal(quadrant_interiors(out)[0], red_quadrant[..., ::-1])


@pytest.mark.parametrize('pad', [0, 4])
@pytest.mark.parametrize('encoding', YUV)
def test_yuv422_round_trips_closely(encoding, pad):
    rgb = smooth_rgb()
    raw = encode_rgb(rgb, encoding)
    assert raw.shape == (12, 16, 2)
    msg = make_msg(raw, encoding, pad=pad)
    out, order = image_to_array(msg)
    assert order == 'rgb' and out.shape == rgb.shape
    assert np.abs(out.astype(int) - rgb).max() <= 12
    assert not np.shares_memory(out, data_view(msg))


def test_yuv422_byte_orders():
    # One pixel pair, U = V = 128 (no colour), luma 200 then 60.
    uyvy = np.array([[[128, 200], [128, 60]]], np.uint8)
    yuyv = np.array([[[200, 128], [60, 128]]], np.uint8)
    for raw, names in ((uyvy, ('uyvy', 'yuv422')), (yuyv, ('yuyv', 'yuv422_yuy2'))):
        for name in names:
            out, _ = image_to_array(make_msg(raw, name))
            assert (out[0, 0] == out[0, 0, 0]).all() and (out[0, 1] == out[0, 1, 0]).all()
            assert out[0, 0, 0] > 150 > 80 > out[0, 1, 0]
    swapped, _ = image_to_array(make_msg(uyvy, 'yuyv'))
    assert not (swapped[0, 0] == swapped[0, 0, 0]).all()  # luma 128 with V=200: coloured


def malformed_cases():
    good = make_msg(smooth_rgb(4, 6), 'rgb8')

    def variant(**fields):
        msg = make_msg(smooth_rgb(4, 6), 'rgb8')
        for name, value in fields.items():
            setattr(msg, name, value)
        return msg

    short = variant()
    short.data = array.array('B', bytes(good.step * good.height - 1))
    mono16 = make_msg(np.zeros((4, 6), np.uint16), 'mono16')
    mono16.step = 13
    float32 = make_msg(np.zeros((4, 6), np.float32), '32FC1', pad=2)
    odd_yuv = make_msg(np.zeros((2, 3, 2), np.uint8), 'uyvy')
    return [
        ('unknown', variant(encoding='rgb9'), 'unsupported encoding'),
        ('empty encoding', variant(encoding=''), 'unsupported encoding'),
        ('nv21', variant(encoding='nv21'), 'unsupported encoding'),
        ('long encoding', variant(encoding='x' * 5000 + '\n'), 'unsupported encoding'),
        ('short data', short, 'step x height needs 72'),
        ('no data', variant(data=array.array('B')), 'data has 0 bytes'),
        ('zero width', variant(width=0), 'must be positive'),
        ('zero height', variant(height=0), 'must be positive'),
        ('step too small', variant(step=17), 'less than width x bytes per pixel = 18'),
        ('odd step 16-bit', mono16, 'not a multiple of the 2-byte'),
        ('float step', float32, 'not a multiple of the 4-byte'),
        ('odd yuv width', odd_yuv, 'even width'),
    ]


@pytest.mark.parametrize('name,msg,reason', malformed_cases(),
                         ids=[case[0] for case in malformed_cases()])
def test_malformed_images_raise_one_clear_line(name, msg, reason):
    with pytest.raises(ImageConversionError, match=reason) as caught:
        image_to_array(msg)
    assert '\n' not in str(caught.value)
    assert len(str(caught.value)) < 800


def test_every_supported_encoding_decodes_the_same_padded_and_byte_swapped():
    """array_to_image packs tightly in native order; a padded big-endian copy must agree."""
    rgb = smooth_rgb()
    header = Header(frame_id='camera_optical')
    header.stamp.sec, header.stamp.nanosec = 12, 345
    for encoding in SUPPORTED_ENCODINGS:
        raw = encode_rgb(rgb, encoding)
        packed = array_to_image(raw, encoding, header)
        layout = LAYOUTS[encoding]
        assert packed.encoding == encoding
        assert (packed.height, packed.width) == (12, 16)
        assert packed.step == 16 * layout.channels * raw.dtype.itemsize
        assert len(packed.data) == packed.step * 12
        assert packed.is_bigendian == 0  # this machine is little-endian
        assert packed.header.frame_id == 'camera_optical' and packed.header.stamp.nanosec == 345
        mine, order = image_to_array(packed)
        other, other_order = image_to_array(make_msg(raw, encoding, pad=4, bigendian=True))
        assert order == other_order == layout.order, encoding
        np.testing.assert_array_equal(mine, other, err_msg=encoding)
        assert mine.shape == ((12, 16) if order == 'mono' else (12, 16, 3))


def test_array_to_image_copies_and_accepts_views():
    rgb = smooth_rgb()
    view = rgb[:, ::2]  # not contiguous
    msg = array_to_image(view, 'rgb8')
    assert msg.width == 8 and msg.step == 24
    np.testing.assert_array_equal(image_to_array(msg)[0], view)
    rgb[:] = 0
    assert image_to_array(msg)[0].any()  # the message kept its own copy
    single = array_to_image(np.zeros((3, 4, 1), np.uint8), 'mono8')
    assert (single.height, single.width, single.step) == (3, 4, 4)
    assert type(msg.data) is array.array


@pytest.mark.parametrize('values,encoding,reason', [
    (np.zeros((4, 4, 3), np.float32), 'rgb8', 'needs uint8'),
    (np.zeros((4, 4), np.uint8), 'mono16', 'needs uint16'),
    (np.zeros((4, 4), np.uint8), 'rgb8', '3 channel'),
    (np.zeros((4, 4, 3), np.uint8), 'rgba8', '4 channel'),
    (np.zeros((0, 4, 3), np.uint8), 'rgb8', 'non-empty'),
    (np.zeros((2, 3, 2), np.uint8), 'yuyv', 'even width'),
    (np.zeros((2, 2), np.uint8), 'jpeg', 'unsupported encoding'),
])
def test_array_to_image_refuses_mismatched_arrays(values, encoding, reason):
    with pytest.raises(ImageConversionError, match=reason):
        array_to_image(values, encoding)


@pytest.mark.parametrize('rgb,encoding', [
    (np.zeros((4, 4), np.uint8), 'rgb8'),
    (np.zeros((4, 4, 3), np.uint16), 'rgb8'),
    (np.zeros((4, 5, 3), np.uint8), 'uyvy'),
])
def test_encode_rgb_refuses_what_it_cannot_encode(rgb, encoding):
    with pytest.raises(ImageConversionError):
        encode_rgb(rgb, encoding)


def test_matches_ros2_cv_bridge_for_every_encoding():
    cv_bridge = pytest.importorskip('cv_bridge')
    bridge = cv_bridge.CvBridge()
    rgb = smooth_rgb()
    desired = {'rgb': 'rgb8', 'bgr': 'bgr8', 'mono': 'mono8'}
    compared, refused = [], []
    for encoding in SUPPORTED_ENCODINGS:
        # Unpadded: older cv_bridge releases ignore step (padding is tested above).
        msg = make_msg(encode_rgb(rgb, encoding), encoding)
        mine, order = image_to_array(msg)
        try:
            if encoding[0].isdigit():
                # Generic types: cv_bridge decodes them as they are; the 8-bit mapping is ours.
                theirs = bridge.imgmsg_to_cv2(msg, desired_encoding='passthrough')
                if theirs.ndim == 3:
                    theirs = image_to_array(array_to_image(
                        np.ascontiguousarray(theirs[:, :, :3]), '8UC3'))[0]
                else:
                    theirs = image_to_array(array_to_image(theirs, encoding))[0]
            else:
                theirs = bridge.imgmsg_to_cv2(msg, desired_encoding=desired[order])
        except cv_bridge.CvBridgeError:
            refused.append(encoding)  # an older cv_bridge without this encoding
            continue
        np.testing.assert_array_equal(mine, theirs, err_msg=encoding)
        compared.append(encoding)
    assert {'rgb8', 'bgr8', 'mono8', 'mono16', 'bayer_rggb8', '16UC1'} <= set(compared), refused


def detection_result(labels=('red cup', 'blue ball'), boxes=((10, 10, 40, 30), (-5, 2, 90, 70)),
                     scores=(0.9, 0.4), query_indices=(0, 1), queries=2):
    rng = np.random.default_rng(0)
    return types.SimpleNamespace(
        vision_features=rng.standard_normal(8).astype(np.float32),
        text_features=rng.standard_normal((queries, 6)).astype(np.float32),
        fused_features=rng.standard_normal((queries, 5)).astype(np.float32),
        boxes=np.array(boxes, np.float32).reshape(-1, 4),
        scores=np.array(scores, np.float32),
        labels=list(labels),
        query_indices=np.array(query_indices, np.int64))


def test_result_to_msg_and_back():
    pytest.importorskip('vlm_perception.msg')
    result = detection_result()
    header = Header(frame_id='cam')
    header.stamp.sec, header.stamp.nanosec = 7, 500_000_000
    msg = result_to_msg(result, header, 'red cup, blue ball', ['red cup', 'blue ball'],
                        'weights/tabletop', 'native', 64, 48)
    assert msg.header.frame_id == 'cam' and msg.header.stamp.sec == 7
    assert msg.command == 'red cup, blue ball' and list(msg.queries) == ['red cup', 'blue ball']
    assert (msg.model_id, msg.model_backend) == ('weights/tabletop', 'native')
    assert (msg.image_width, msg.image_height) == (64, 48)
    assert (msg.vision_dim, msg.text_dim, msg.fused_dim) == (8, 6, 5)
    assert len(msg.text_features) == 2 * 6 and len(msg.object_positions) == 2 * 4
    back = msg_to_arrays(msg)
    np.testing.assert_array_equal(back['vision'], result.vision_features)
    np.testing.assert_array_equal(back['text'], result.text_features)
    np.testing.assert_array_equal(back['fused'], result.fused_features)
    np.testing.assert_array_equal(back['scores'], result.scores)
    # The second box reaches outside the 64x48 image and comes back clipped.
    np.testing.assert_array_equal(back['boxes'], [[10, 10, 40, 30], [0, 2, 64, 48]])
    assert back['labels'] == ['red cup', 'blue ball']
    np.testing.assert_array_equal(back['query_indices'], [0, 1])
    assert back['stamp'] == pytest.approx(7.5) and back['frame_id'] == 'cam'
    assert (back['image_width'], back['image_height']) == (64, 48)


def test_result_to_msg_with_no_detections_and_bad_sizes():
    pytest.importorskip('vlm_perception.msg')
    empty = detection_result(labels=(), boxes=np.zeros((0, 4)), scores=(), query_indices=(),
                             queries=1)
    msg = result_to_msg(empty, Header(), 'x', ['x'], 'm', 'native', 10, 10)
    back = msg_to_arrays(msg)
    assert back['boxes'].shape == (0, 4) and back['scores'].shape == (0,)
    assert back['text'].shape == (1, 6)
    with pytest.raises(ValueError, match='text_features'):
        result_to_msg(detection_result(), Header(), 'x', ['x'], 'm', 'native', 10, 10)
    with pytest.raises(ValueError, match='labels need boxes'):
        result_to_msg(detection_result(scores=(0.5,)), Header(), 'a, b', ['a', 'b'], 'm',
                      'native', 10, 10)
    msg.text_dim = 7
    with pytest.raises(ValueError, match='text_features has 6 values'):
        msg_to_arrays(msg)


def test_draw_detections_on_a_copy_in_the_right_colours():
    rgb = np.full((120, 200, 3), 20, np.uint8)
    msg = make_msg(rgb, 'rgb8', pad=3)
    view, order = image_to_array(msg)
    result = detection_result(labels=('red cup', 'tasse à café'),
                              boxes=((10, 30, 60, 80), (-5, 2, 250, 130)))
    drawn = draw_detections(view, result, order)
    assert drawn.shape == (120, 200, 3) and drawn.dtype == np.uint8
    np.testing.assert_array_equal(view, rgb)  # the message's pixels are untouched
    np.testing.assert_array_equal(drawn[60, 10], PALETTE[0])   # left edge of the first box
    np.testing.assert_array_equal(drawn[100, 0], PALETTE[1])   # clipped second box
    np.testing.assert_array_equal(drawn[100, 199], PALETTE[1])
    assert (drawn[18:29, 10:60] != 20).any()  # a label above the first box
    np.testing.assert_array_equal(drawn[60, 30], 20)  # inside the box: untouched
    as_bgr = draw_detections(np.ascontiguousarray(view[:, :, ::-1]), result, 'bgr')
    np.testing.assert_array_equal(as_bgr[60, 10], PALETTE[0][::-1])


def test_draw_detections_mono_empty_and_non_finite():
    grey = np.full((30, 40), 77, np.uint8)
    nothing = detection_result(labels=(), boxes=np.zeros((0, 4)), scores=(), query_indices=())
    drawn = draw_detections(grey, nothing, 'mono')
    assert drawn.shape == (30, 40, 3)
    np.testing.assert_array_equal(drawn, 77)
    broken = detection_result(labels=('a',), boxes=((np.nan, 1, 5, 5),), scores=(0.5,),
                              query_indices=(0,))
    np.testing.assert_array_equal(draw_detections(grey, broken, 'mono'), 77)


def test_result_to_msg_carries_3d_rows_nan_included():
    pytest.importorskip('vlm_perception.msg')
    positions = np.array([[0.1, -0.2, 0.8], [np.nan] * 3], np.float32)
    sizes = np.array([[0.05, 0.04, 0.02], [np.nan] * 3], np.float32)
    msg = result_to_msg(detection_result(), Header(), 'a, b', ['red cup', 'blue ball'], 'm',
                        'native', 64, 48, positions, sizes)
    np.testing.assert_array_equal(np.reshape(msg.object_positions_3d, (-1, 3)), positions)
    np.testing.assert_array_equal(np.reshape(msg.object_sizes_3d, (-1, 3)), sizes)
    without = result_to_msg(detection_result(), Header(), 'a, b', ['red cup', 'blue ball'],
                            'm', 'native', 64, 48)
    assert len(without.object_positions_3d) == len(without.object_sizes_3d) == 0
    with pytest.raises(ValueError, match='positions_3d and sizes_3d'):
        result_to_msg(detection_result(), Header(), 'a, b', ['red cup', 'blue ball'], 'm',
                      'native', 64, 48, positions[:1], sizes[:1])
    with pytest.raises(ValueError, match='together'):
        result_to_msg(detection_result(), Header(), 'a, b', ['red cup', 'blue ball'], 'm',
                      'native', 64, 48, positions, None)


@pytest.mark.parametrize('encoding, dtype', [('16UC1', np.uint16), ('mono16', np.uint16),
                                             ('32FC1', np.float32)])
def test_depth_images_come_back_as_their_values(encoding, dtype):
    values = np.arange(12 * 10, dtype=dtype).reshape(10, 12) * dtype(3)
    msg = array_to_image(values, '16UC1' if dtype == np.uint16 else '32FC1')
    msg.encoding = encoding
    depth = depth_to_array(msg)
    assert depth.dtype == dtype and depth.dtype.isnative
    np.testing.assert_array_equal(depth, values)
    padded_big_endian = make_msg(values, encoding, pad=4, bigendian=True)
    np.testing.assert_array_equal(depth_to_array(padded_big_endian), values)


def test_depth_in_another_encoding_is_refused_with_the_reason():
    msg = array_to_image(np.zeros((4, 4, 3), np.uint8), 'rgb8')
    with pytest.raises(ImageConversionError, match="unsupported depth encoding 'rgb8'"):
        depth_to_array(msg)


def test_debug_labels_add_the_distance_where_there_is_one():
    assert distance_label('red cup', 0.934, [0.3, 0.0, 0.4]) == 'red cup 0.93 0.50 m'
    assert distance_label('red cup', 0.934, [np.nan] * 3) == 'red cup 0.93'
    assert distance_label('red cup', 0.934, None) == 'red cup 0.93'
    grey = np.full((60, 80), 10, np.uint8)
    result = detection_result(labels=('a',), boxes=((5, 30, 70, 55),), scores=(0.5,),
                              query_indices=(0,))
    plain = draw_detections(grey, result, 'mono')
    with_distance = draw_detections(grey, result, 'mono', positions=[[0.0, 0.0, 1.5]])
    # The longer label covers more of the strip above the box.
    assert (with_distance[10:30] != 10).sum() > (plain[10:30] != 10).sum()
