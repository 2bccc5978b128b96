# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
Tests of vlm_perception.compressed against messages built by the plugins' own rules.

Each test message is put together here the way compressed_image_transport and
compressed_depth_image_transport (ros-perception/image_transport_plugins) write it:
the format string spelled out, the pixels converted as cv_bridge would, then
cv2.imencode, and for compressedDepth the 12-byte configuration header in front.
"""

import struct

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo, CompressedImage
from std_msgs.msg import Header

from vlm_perception.compressed import (
    compressed_depth_to_array, compressed_image_to_array, decode_depth, decode_image,
    depth_quantisation, encode_depth, encode_image, parse_depth_format, parse_image_format,
    rvl_decode, rvl_encode)
from vlm_perception.conversion import (
    array_to_image, depth_to_array, encode_rgb, image_to_array, ImageConversionError)
from vlm_perception.depth_input import DepthFrame, locate_detections

PNG_ENCODINGS = ['rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8', '8UC1', 'mono16', 'rgb16', 'bgr16',
                 'rgba16', 'bgra16', '16UC1', 'bayer_rggb8', 'bayer_grbg16']
JPEG_ENCODINGS = ['rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8', 'rgb16', 'bgr16', 'mono16']
HEADER = struct.Struct('<iff')  # ConfigHeader: compressionFormat format; float depthParam[2]


def scene(height=48, width=64):
    """Return a (H, W, 3) uint8 RGB image with flat areas and edges (JPEG keeps it well)."""
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[:] = (200, 180, 40)
    rgb[8:30, 10:40] = (220, 30, 30)
    rgb[20:44, 36:60] = (30, 40, 210)
    return rgb


def message(format_text, payload):
    """Return a CompressedImage holding ``payload`` bytes, as a publisher sends it."""
    msg = CompressedImage(format=format_text)
    msg.header.frame_id = 'camera'
    msg.data = payload
    return msg


def imencode(extension, pixels, params=()):
    ok, encoded = cv2.imencode(extension, np.ascontiguousarray(pixels), list(params))
    assert ok
    return encoded.tobytes()


def as_rgb(array, order):
    """Return the decoded model input as RGB (mono stays (H, W))."""
    return array[:, :, ::-1] if order == 'bgr' else np.asarray(array)


def raw_path(values, encoding):
    """Return what the node hands the model for the same image sent raw, as RGB."""
    return as_rgb(*image_to_array(array_to_image(values, encoding)))


# compressed: format strings

@pytest.mark.parametrize('text, expected', [
    ('rgb8; jpeg compressed bgr8', ('rgb8', 'jpeg', 'bgr8')),
    ('mono16; jpeg compressed mono8', ('mono16', 'jpeg', 'mono8')),
    ('bgra16; png compressed bgr16', ('bgra16', 'png', 'bgr16')),
    ('mono8; png compressed ', ('mono8', 'png', '')),   # the plugin's trailing space
    ('16UC1; tiff compressed ', ('16UC1', 'tiff', '')),
    ('jpeg', ('', 'jpeg', '')),                          # older publishers
    ('png', ('', 'png', '')),
    (' bgr8 ;  JPEG compressed  bgr8 ', ('bgr8', 'jpeg', 'bgr8')),
])
def test_image_formats_parse_as_the_plugin_writes_them(text, expected):
    assert tuple(parse_image_format(text)) == expected


@pytest.mark.parametrize('text, reason', [
    ('bgr8; h264 compressed bgr8', "codec 'h264'"),
    ('rgb8', "codec 'rgb8'"),
    ('', "codec ''"),
    ('rgb8; jpeg compressed nv12', "unknown target encoding 'nv12'"),
    ('rgb8; jpeg', 'unknown compressed format'),
    ('16UC1; compressedDepth png', "depth_transport's"),
])
def test_unknown_image_formats_are_refused_with_the_reason(text, reason):
    with pytest.raises(ImageConversionError, match=reason.replace('(', r'\(')):
        parse_image_format(text)


@pytest.mark.parametrize('encoding, codec, expected', [
    ('rgb8', 'jpeg', 'rgb8; jpeg compressed bgr8'),
    ('bgra8', 'jpeg', 'bgra8; jpeg compressed bgr8'),
    ('mono16', 'jpeg', 'mono16; jpeg compressed mono8'),
    ('rgb8', 'png', 'rgb8; png compressed bgr8'),
    ('rgba16', 'png', 'rgba16; png compressed bgr16'),
    ('mono8', 'png', 'mono8; png compressed '),
    ('16UC1', 'png', '16UC1; png compressed '),
    ('32FC1', 'tiff', '32FC1; tiff compressed '),
])
def test_encode_image_writes_the_plugins_format(encoding, codec, expected):
    assert encode_image(encode_rgb(scene(), encoding), encoding, codec).format == expected


# compressed: decoding

@pytest.mark.parametrize('quality', [95, 80])
def test_a_plugin_jpeg_decodes_to_the_colour_order_it_names(quality):
    rgb = scene()
    # The plugin: cv_bridge to bgr8, then imencode('.jpg') with its jpeg_quality.
    msg = message('rgb8; jpeg compressed bgr8',
                  imencode('.jpg', rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality]))
    assert encode_image(rgb, 'rgb8', jpeg_quality=quality).data == msg.data
    decoded, order = compressed_image_to_array(msg)
    assert order == 'bgr' and decoded.shape == (48, 64, 3) and decoded.dtype == np.uint8
    # JPEG blurs the colour edges a little; the wrong order would be off by ~100.
    assert np.abs(as_rgb(decoded, order).astype(int) - rgb).mean() < 8
    assert np.abs(decoded.astype(int) - rgb).mean() > 50


def test_rgb_pixels_named_rgb_stay_rgb():
    rgb = scene()
    msg = message('bgr8; png compressed rgb8', imencode('.png', rgb))  # RGB bytes as stored
    decoded, order = compressed_image_to_array(msg)
    assert order == 'rgb' and np.array_equal(decoded, rgb)


@pytest.mark.parametrize('encoding', PNG_ENCODINGS)
def test_png_gives_the_model_exactly_what_the_raw_image_gives(encoding):
    values = encode_rgb(scene(), encoding)
    msg = encode_image(values, encoding, 'png')
    decoded, order = compressed_image_to_array(msg)
    assert np.array_equal(as_rgb(decoded, order), raw_path(values, encoding)), encoding


def test_a_plugin_png_of_sixteen_bits_keeps_them():
    rgb16 = encode_rgb(scene(), 'rgb16') + np.uint16(3)  # low bits set: not an 8-bit image
    msg = message('rgb16; png compressed bgr16',
                  imencode('.png', rgb16[:, :, ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 3]))
    assert encode_image(rgb16, 'rgb16', 'png').data == msg.data
    pixels, encoding = decode_image(msg.format, msg.data)
    assert encoding == 'bgr16' and np.array_equal(pixels, rgb16[:, :, ::-1])
    mono16 = encode_rgb(scene(), 'mono16') + np.uint16(1)
    pixels, encoding = decode_image('mono16; png compressed ', imencode('.png', mono16))
    assert encoding == 'mono16' and np.array_equal(pixels, mono16)


@pytest.mark.parametrize('encoding', JPEG_ENCODINGS)
def test_jpeg_gives_the_model_nearly_what_the_raw_image_gives(encoding):
    values = encode_rgb(scene(), encoding)
    decoded, order = compressed_image_to_array(encode_image(values, encoding, 'jpeg'))
    expected = raw_path(values, encoding)
    assert decoded.shape == expected.shape
    assert np.abs(as_rgb(decoded, order).astype(int) - expected).mean() < 8, encoding


def test_bare_formats_are_bgr_or_mono_as_opencv_stores_them():
    rgb = scene()
    decoded, order = compressed_image_to_array(message('jpeg', imencode('.jpg', rgb[:, :, ::-1])))
    assert order == 'bgr' and np.abs(decoded[:, :, ::-1].astype(int) - rgb).mean() < 8
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    decoded, order = compressed_image_to_array(message('png', imencode('.png', grey)))
    assert order == 'mono' and np.array_equal(decoded, grey)


def test_tiff_keeps_the_cameras_layout():
    depth = np.linspace(0.5, 3.0, 48 * 64, dtype=np.float32).reshape(48, 64)
    decoded, order = compressed_image_to_array(encode_image(depth, '32FC1', 'tiff'))
    assert order == 'mono' and np.array_equal(decoded, raw_path(depth, '32FC1'))


def test_encode_image_keeps_the_header_and_refuses_what_the_plugin_refuses():
    header = Header(frame_id='left')
    header.stamp.sec, header.stamp.nanosec = 12, 345
    msg = encode_image(scene(), 'rgb8', header=header)
    assert msg.header == header
    for values, encoding, codec in ((encode_rgb(scene(), '16UC1'), '16UC1', 'jpeg'),
                                    (encode_rgb(scene(), '32FC1'), '32FC1', 'png'),
                                    (scene(), 'rgb8', 'webp'),
                                    (scene()[:, :, 0], 'rgb8', 'png')):
        with pytest.raises(ImageConversionError):
            encode_image(values, encoding, codec)


def corrupt_images():
    """Return (what, message) pairs that must not decode."""
    good_jpeg = encode_image(scene(), 'bgr8').data.tobytes()
    good_png = encode_image(scene(), 'bgr8', 'png').data.tobytes()
    noise = np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8).tobytes()
    flipped = bytearray(good_png)
    flipped[len(flipped) // 2] ^= 0xFF  # a CRC error in the image data
    # A PNG whose header says 0x0 pixels (CRC made valid, so only the size is wrong).
    ihdr = struct.pack('>IIBBBBB', 0, 0, 8, 0, 0, 0, 0)
    zero = (good_png[:8] + struct.pack('>I', 13) + b'IHDR' + ihdr
            + struct.pack('>I', __import__('zlib').crc32(b'IHDR' + ihdr)) + good_png[33:])
    return [('noise', message('bgr8; jpeg compressed bgr8', noise)),
            ('cut JPEG', message('bgr8; jpeg compressed bgr8', good_jpeg[:len(good_jpeg) // 2])),
            ('cut PNG', message('bgr8; png compressed bgr8', good_png[:len(good_png) // 2])),
            ('flipped PNG byte', message('bgr8; png compressed bgr8', bytes(flipped))),
            ('zero-size PNG', message('bgr8; png compressed bgr8', zero)),
            ('no data', message('bgr8; jpeg compressed bgr8', b'')),
            ('unknown format', message('bgr8; webp compressed bgr8', good_jpeg))]


@pytest.mark.parametrize('what, msg', corrupt_images())
def test_corrupt_compressed_images_raise_one_clear_line(what, msg):
    with pytest.raises(ImageConversionError) as raised:
        compressed_image_to_array(msg)
    text = str(raised.value)
    assert text and '\n' not in text, what


def test_a_jpeg_padded_with_zeros_after_its_end_marker_still_decodes():
    good = encode_image(scene(), 'bgr8')
    padded = message(good.format, good.data.tobytes() + bytes(16))
    decoded, _ = compressed_image_to_array(padded)
    assert np.array_equal(decoded, compressed_image_to_array(good)[0])


# compressedDepth

@pytest.mark.parametrize('text, expected', [
    ('16UC1; compressedDepth png', ('16UC1', 'png')),
    ('32FC1; compressedDepth rvl', ('32FC1', 'rvl')),
    ('16UC1; compressedDepth', ('16UC1', 'png')),  # Humble and Iron
    ('mono16', ('mono16', 'png')),                  # the oldest: the encoding alone
])
def test_depth_formats_parse_as_the_plugin_writes_them(text, expected):
    assert tuple(parse_depth_format(text)) == expected


@pytest.mark.parametrize('text, reason', [
    ('16UC1; compressedDepth zstd', "codec 'zstd'"),
    ('bgr8; compressedDepth png', "encoding 'bgr8'"),
    ('16UC1; png compressed ', 'unknown compressedDepth format'),
])
def test_unknown_depth_formats_are_refused(text, reason):
    with pytest.raises(ImageConversionError, match=reason):
        parse_depth_format(text)


def depth_mm(height=48, width=64):
    """Return (H, W) uint16 millimetres: a slanted floor, a box, holes and a far wall."""
    y, x = np.mgrid[0:height, 0:width]
    depth = (800 + 20 * y + 3 * x).astype(np.uint16)
    depth[10:20, 10:30] = 650
    depth[30:34, 40:50] = 0         # no reading
    depth[0:3, :] = 12000           # beyond the plugin's default depth_max (10 m)
    return depth


def test_16uc1_by_the_plugins_rules_decodes_to_the_same_millimetres():
    depth = depth_mm()
    filtered = np.where(depth > 10000, 0, depth).astype(np.uint16)  # its max-depth filter
    payload = HEADER.pack(0, 0.0, 0.0) + imencode('.png', filtered,
                                                  [cv2.IMWRITE_PNG_COMPRESSION, 3])
    msg = message('16UC1; compressedDepth png', payload)
    assert encode_depth(depth, '16UC1').data == msg.data
    decoded = compressed_depth_to_array(msg)
    assert decoded.dtype == np.uint16 and np.array_equal(decoded, filtered)
    assert np.array_equal(decode_depth('16UC1; compressedDepth', payload), filtered)


def plugin_inverse_depth(depth, depth_max=10.0, depth_quantization=100.0):
    """Quantise 32FC1 as the plugin does, step by step; return (A, B, uint16 image)."""
    quant_a = np.float32(depth_quantization) * np.float32(depth_quantization + 1.0)
    quant_b = np.float32(1.0) - quant_a / np.float32(depth_max)
    inverse = np.zeros(depth.shape, np.uint16)
    for index, z in np.ndenumerate(depth):
        # z < depth_max is False for NaN. z = 0 (no reading) would be A / 0 = inf, whose
        # cast to unsigned short is undefined in C++: it is taken as 0, no reading.
        if 0 < z < depth_max:
            inverse[index] = int(quant_a / z + quant_b)  # truncated, as the C++ cast
    return quant_a, quant_b, inverse


@pytest.mark.parametrize('depth_max, depth_quantization', [(10.0, 100.0), (4.0, 75.0)])
def test_32fc1_by_the_plugins_rules_decodes_to_metres_within_its_quantisation(
        depth_max, depth_quantization):
    depth = depth_mm().astype(np.float32) / 1000.0
    depth[40:44, 0:8] = np.nan
    quant_a, quant_b, inverse = plugin_inverse_depth(depth, depth_max, depth_quantization)
    assert (quant_a, quant_b) == depth_quantisation(depth_max, depth_quantization)
    msg = message('32FC1; compressedDepth png',
                  HEADER.pack(0, quant_a, quant_b) + imencode('.png', inverse,
                                                              [cv2.IMWRITE_PNG_COMPRESSION, 3]))
    assert encode_depth(depth, '32FC1', depth_max=depth_max,
                        depth_quantization=depth_quantization).data == msg.data
    decoded = compressed_depth_to_array(msg)
    assert decoded.dtype == np.float32
    near = (depth > 0) & (depth < depth_max)
    assert np.isnan(decoded[~near]).all()  # no reading, NaN, or beyond depth_max
    # One quantisation step at depth z is about z^2 / A metres.
    step = depth[near] ** 2 / quant_a
    assert np.all(np.abs(decoded[near] - depth[near]) <= step * 1.01 + 1e-6)


def reference_compress_rvl(values):
    """Run the plugin's CompressRVL (rvl_codec.cpp) line by line: the bytes to match."""
    words, state = [], {'word': 0, 'nibbles': 0}

    def encode_vle(value):
        while True:
            nibble = value & 0x7
            value >>= 3
            if value:
                nibble |= 0x8
            state['word'] = ((state['word'] << 4) | nibble) & 0xFFFFFFFF
            state['nibbles'] += 1
            if state['nibbles'] == 8:
                words.append(state['word'])
                state['word'], state['nibbles'] = 0, 0
            if not value:
                break

    values, index, previous = [int(v) for v in values], 0, 0
    while index < len(values):
        zeros = 0
        while index < len(values) and not values[index]:
            index, zeros = index + 1, zeros + 1
        encode_vle(zeros)
        nonzeros = 0
        while index + nonzeros < len(values) and values[index + nonzeros]:
            nonzeros += 1
        encode_vle(nonzeros)
        for _ in range(nonzeros):
            delta = values[index] - previous
            encode_vle(((delta << 1) ^ (delta >> 31)) & 0xFFFFFFFF)
            previous = values[index]
            index += 1
    if state['nibbles']:
        words.append((state['word'] << 4 * (8 - state['nibbles'])) & 0xFFFFFFFF)
    return struct.pack(f'<{len(words)}I', *words)


def test_rvl_matches_the_plugins_bytes():
    # Runs (2 zeros, 2 non-zeros: deltas 5 and 0, zig-zag 10 and 0), (1 zero, 0 non-zeros):
    # nibbles 2, 2, A 1 (10 in 3-bit groups), 0, 1, 0, then one nibble of padding.
    assert rvl_encode(np.array([0, 0, 5, 5, 0], np.uint16)) == bytes.fromhex('0001a122')
    rng = np.random.default_rng(1)
    for trial in range(60):
        size = int(rng.integers(1, 200))
        values = rng.integers(0, 65536, size).astype(np.uint16)
        values[rng.random(size) < rng.random()] = 0
        if trial % 3 == 0:
            values = np.cumsum(rng.integers(-3, 4, size)).astype(np.uint16)  # small deltas
        encoded = rvl_encode(values)
        assert encoded == reference_compress_rvl(values), trial
        assert np.array_equal(rvl_decode(encoded, size), values), trial


@pytest.mark.parametrize('encoding', ['16UC1', '32FC1'])
def test_rvl_depth_round_trips_like_png(encoding):
    depth = depth_mm()
    values = depth if encoding == '16UC1' else depth.astype(np.float32) / 1000.0
    png = compressed_depth_to_array(encode_depth(values, encoding, 'png'))
    msg = encode_depth(values, encoding, 'rvl')
    assert msg.format == f'{encoding}; compressedDepth rvl'
    width, height = struct.unpack('<II', msg.data[12:20].tobytes())
    assert (width, height) == (64, 48)
    np.testing.assert_array_equal(compressed_depth_to_array(msg), png)


def corrupt_depth():
    """Return (what, message) pairs whose header does not fit the data."""
    good = encode_depth(depth_mm().astype(np.float32) / 1000.0, '32FC1').data.tobytes()
    rvl = encode_depth(depth_mm(), '16UC1', 'rvl').data.tobytes()
    eight_bit = HEADER.pack(0, 0, 0) + imencode('.png', depth_mm().astype(np.uint8))
    return [
        ('header only', message('16UC1; compressedDepth png', good[:12])),
        ('shorter than the header', message('16UC1; compressedDepth png', good[:7])),
        ('unknown header format', message('32FC1; compressedDepth png',
                                          HEADER.pack(3, 1.0, 1.0) + good[12:])),
        ('NaN quantisation', message('32FC1; compressedDepth png',
                                     HEADER.pack(0, float('nan'), 1.0) + good[12:])),
        ('cut PNG', message('32FC1; compressedDepth png', good[:len(good) // 2])),
        ('8-bit PNG', message('16UC1; compressedDepth png', eight_bit)),
        ('zero RVL size', message('16UC1; compressedDepth rvl',
                                  rvl[:12] + struct.pack('<II', 0, 48) + rvl[20:])),
        ('RVL size beyond its data', message('16UC1; compressedDepth rvl',
                                             rvl[:12] + struct.pack('<II', 64000, 48000)
                                             + rvl[20:])),
        ('cut RVL', message('16UC1; compressedDepth rvl', rvl[:len(rvl) // 2])),
        ('unknown format', message('16UC1; compressedDepth zstd', good)),
    ]


@pytest.mark.parametrize('what, msg', corrupt_depth())
def test_depth_whose_header_does_not_fit_raises_one_clear_line(what, msg):
    with pytest.raises(ImageConversionError) as raised:
        compressed_depth_to_array(msg)
    assert str(raised.value) and '\n' not in str(raised.value), what


def camera_info(width=64, height=48, focal=50.0):
    return CameraInfo(width=width, height=height,
                      k=[focal, 0.0, width / 2, 0.0, focal, height / 2, 0.0, 0.0, 1.0],
                      p=[focal, 0.0, width / 2, 0.0, 0.0, focal, height / 2, 0.0,
                         0.0, 0.0, 1.0, 0.0])


@pytest.mark.parametrize('encoding, codec', [('16UC1', 'png'), ('16UC1', 'rvl'),
                                             ('32FC1', 'png')])
def test_3d_from_compressed_depth_is_the_3d_from_raw_depth(encoding, codec):
    config = {'depth_scale': 0.001, 'depth_min': 0.1, 'depth_max': 10.0}
    depth = depth_mm()
    values = depth if encoding == '16UC1' else depth.astype(np.float32) / 1000.0
    boxes = np.array([[10, 10, 30, 20], [35, 25, 60, 45]], np.float32)
    compressed = encode_depth(values, encoding, codec)
    compressed.header.frame_id = 'camera'
    colour = Header(frame_id='camera')
    found = locate_detections(DepthFrame(compressed, camera_info(), '', compressed_depth_to_array),
                              colour, (64, 48), boxes, config)
    # The same values sent raw: what the plugin's subscriber would republish.
    raw = array_to_image(compressed_depth_to_array(compressed), encoding, compressed.header)
    np.testing.assert_array_equal(depth_to_array(raw), compressed_depth_to_array(compressed))
    expected = locate_detections(DepthFrame(raw, camera_info()), colour, (64, 48), boxes, config)
    np.testing.assert_array_equal(found[0], expected[0])
    np.testing.assert_array_equal(found[1], expected[1])
    assert np.isfinite(found[0]).any()  # not a comparison of NaN with NaN alone
