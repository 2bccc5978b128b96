# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
Compressed images as the image_transport plugins send them: formats, decoding, encoding.

rclpy has no image_transport, so the node reads the two plugins' messages itself
(sensor_msgs/CompressedImage), by the rules of ros-perception/image_transport_plugins:

- ``compressed`` (compressed_image_transport): ``format`` is
  ``"<encoding>; <codec> compressed <target>"`` with codec jpeg, png or tiff:
  ``<encoding>`` is the camera's encoding, ``<target>`` the layout of the compressed
  pixels (JPEG: bgr8 for colour, mono8 otherwise; PNG: bgr8 or bgr16 for colour,
  empty for anything else, stored as it is; TIFF: always empty). Older publishers
  write only ``"jpeg"`` or ``"png"``: 3 channels are then BGR, 1 is mono.
- ``compressedDepth`` (compressed_depth_image_transport): ``format`` is
  ``"<encoding>; compressedDepth png"`` or ``"...rvl"`` (before Jazzy just
  ``"<encoding>; compressedDepth"``, PNG); ``data`` is a 12-byte configuration header
  (int32 format, 0 = INV_DEPTH, and float32 depthParam[2]), then the image: 16UC1 /
  mono16 depth as it is, 32FC1 metres as quantised inverse depth
  ``q = depthParam[0] / z + depthParam[1]`` in 16 bits (0: no reading), decoded as
  ``z = depthParam[0] / (q - depthParam[1])``.

Decoding gives what conversion.py takes next: colour as pixels laid out as one of its
encodings (so every encoding is handled once, there), depth as the array
``depth_to_array`` would give. Encoding writes messages exactly as the plugins do, for
the synthetic camera, the benchmark and the tests. Anything that does not decode
raises :class:`~vlm_perception.conversion.ImageConversionError` with a one-line reason.
"""

import array
import re
import struct
import sys
from typing import NamedTuple

import cv2
import numpy as np

from vlm_perception.conversion import _bytes_of, DEPTH_ENCODINGS, image_to_array
from vlm_perception.conversion import ImageConversionError, LAYOUTS, SIXTEEN_TO_EIGHT

CODECS = ('jpeg', 'png', 'tiff')
DEPTH_CODECS = ('png', 'rvl')
# enc::isColor in sensor_msgs: the encodings the plugin turns into bgr8 / bgr16.
COLOUR_ENCODINGS = ('rgb8', 'bgr8', 'rgba8', 'bgra8', 'rgb16', 'bgr16', 'rgba16', 'bgra16')
MONO_ENCODINGS = ('mono8', 'mono16')
# compressed_depth_image_transport's ConfigHeader: enum format, float depthParam[2].
CONFIG_HEADER = struct.Struct('<iff')
INV_DEPTH = 0
# The plugins' parameter defaults.
JPEG_QUALITY = 95
PNG_LEVEL = 3
DEPTH_MAX = 10.0            # metres; farther (or NaN) is sent as no reading
DEPTH_QUANTIZATION = 100.0  # depth (m) at which the sensor's accuracy is 1 m

_IMAGE_FORMAT = re.compile(r'\s*(\w+)\s+compressed(?:\s+(\S+))?\s*$')
_DEPTH_FORMAT = re.compile(r'\s*compressedDepth(?:\s+(\w+))?\s*$')


class ImageFormat(NamedTuple):
    """A parsed ``compressed`` format: the camera's encoding, the codec, the pixels' layout."""

    encoding: str   # '' for a bare "jpeg" / "png"
    codec: str      # 'jpeg', 'png' or 'tiff'
    target: str     # layout of the compressed pixels; '' when that is ``encoding``'s own


class DepthFormat(NamedTuple):
    """A parsed ``compressedDepth`` format."""

    encoding: str   # '16UC1', 'mono16' or '32FC1'
    codec: str      # 'png' or 'rvl'


def _shown(text, limit=60):
    text = str(text)
    return repr(text if len(text) <= limit else text[:limit] + '...')


def parse_image_format(text):
    """Return the ImageFormat of a ``compressed`` message's ``format`` string."""
    encoding, separator, rest = str(text).partition(';')
    encoding = encoding.strip()
    if not separator:
        codec, encoding, target = encoding.lower(), '', ''
    else:
        found = _IMAGE_FORMAT.match(rest)
        if found is None:
            hint = " (a compressedDepth message: that is depth_transport's)" \
                if 'compresseddepth' in rest.lower() else ''
            raise ImageConversionError(f'unknown compressed format {_shown(text)}{hint}; '
                                       'expected "<encoding>; jpeg|png compressed <encoding>"')
        codec, target = found.group(1).lower(), found.group(2) or ''
    if codec not in CODECS:
        raise ImageConversionError(f'unknown compressed format {_shown(text)}: codec '
                                   f'{codec!r} is not one of {", ".join(CODECS)}')
    if target and target not in LAYOUTS:
        raise ImageConversionError(f'compressed format {_shown(text)}: unknown target '
                                   f'encoding {target!r}')
    return ImageFormat(encoding, codec, target)


def _imdecode(buffer, what):
    """Decode JPEG/PNG/TIFF bytes as they are stored (cv::IMREAD_UNCHANGED, the plugins')."""
    if buffer.size == 0:
        raise ImageConversionError(f'{what}: no data')
    try:
        pixels = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    except cv2.error as error:
        lines = str(error).strip().splitlines()
        raise ImageConversionError(f'{what}: {lines[-1] if lines else "OpenCV error"}') \
            from None
    if pixels is None or pixels.size == 0:
        raise ImageConversionError(f'{what}: {buffer.size} bytes that do not decode to an '
                                   'image (corrupt or cut short)')
    return pixels


def _check_jpeg_end(buffer, what):
    """
    Refuse JPEG bytes without the end-of-image marker (FF D9) at their end.

    Why: libjpeg decodes a JPEG cut short in transport into an image padded with grey,
    and OpenCV before 5 returns it as if whole. Trailing zero padding is allowed.
    """
    if buffer.size and not bytes(buffer[-4096:]).rstrip(b'\0').endswith(b'\xff\xd9'):
        raise ImageConversionError(f'{what}: {buffer.size} bytes with no JPEG end-of-image '
                                   'marker (cut short)')


def _encoding_of(pixels, wanted, order):
    """
    Name the conversion.py encoding ``pixels`` (from imdecode) are laid out as.

    ``wanted``: the encoding the format names for them ('' for none), taken when the
    channel count and value type agree; otherwise one of ``order`` ('bgr', 'rgb' or
    'mono') with the pixels' channels and depth.
    """
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    layout = LAYOUTS.get(wanted)
    if layout is not None and layout.channels == channels and \
            np.dtype(layout.dtype).itemsize == pixels.dtype.itemsize:
        return wanted
    bits = {np.dtype(np.uint8): '8', np.dtype(np.uint16): '16'}.get(pixels.dtype)
    if channels == 1 and pixels.dtype == np.float32:
        return '32FC1'
    if bits is None or channels not in (1, 3, 4):
        raise ImageConversionError(f'decoded to {channels} channel(s) of {pixels.dtype.name}, '
                                   'which is no image encoding')
    if channels == 1:
        return 'mono' + bits
    order = 'bgr' if order == 'mono' else order
    return order + ('a' if channels == 4 else '') + bits


def decode_image(format_text, data):
    """
    Decode a ``compressed`` message's ``format`` and ``data``.

    Returns ``(pixels, encoding)``: the decoded array ((H, W) or (H, W, C), uint8 or
    uint16, float32 for a 32-bit TIFF) and the conversion.py encoding it is laid out
    as: the format's target (bgr8, mono8, bgr16...) or, without one, the camera's
    encoding (mono16, 16UC1, bayer_rggb8...). Raises ImageConversionError.
    """
    parsed = parse_image_format(format_text)
    buffer, what = _bytes_of(data), f'{parsed.codec} image {_shown(format_text)}'
    if parsed.codec == 'jpeg':
        _check_jpeg_end(buffer, what)
    pixels = _imdecode(buffer, what)
    if parsed.target:
        wanted, order = parsed.target, LAYOUTS[parsed.target].order
    elif parsed.encoding:
        wanted = parsed.encoding
        order = LAYOUTS[wanted].order if wanted in LAYOUTS else 'bgr'
    else:  # bare "jpeg" / "png": as OpenCV stores them
        wanted, order = '', 'bgr'
    return pixels, _encoding_of(pixels, wanted, order)


class DecodedImage(NamedTuple):
    """Decoded pixels, shaped as the sensor_msgs/Image that image_to_array reads."""

    height: int
    width: int
    step: int
    encoding: str
    is_bigendian: bool
    data: np.ndarray    # the pixels' bytes, flat uint8


def as_image(pixels, encoding):
    """Return C-contiguous ``pixels`` laid out as ``encoding`` as a DecodedImage (no copy)."""
    pixels = np.ascontiguousarray(pixels)
    return DecodedImage(int(pixels.shape[0]), int(pixels.shape[1]), int(pixels.strides[0]),
                        encoding, sys.byteorder == 'big', pixels.reshape(-1).view(np.uint8))


def compressed_image_to_array(msg):
    """
    Decode a ``compressed`` sensor_msgs/CompressedImage into what the model takes.

    Returns ``(array, channel_order)`` as conversion.image_to_array does for a raw
    image of the same layout. Raises ImageConversionError.
    """
    pixels, encoding = decode_image(msg.format, msg.data)
    return image_to_array(as_image(pixels, encoding))


def _message(header, format_text, payload):
    from sensor_msgs.msg import CompressedImage

    msg = CompressedImage()
    if header is not None:
        msg.header = header
    msg.format = format_text
    data = array.array('B')
    data.frombytes(payload)
    msg.data = data  # stored as is, without a per-byte check
    return msg


def _imencode(extension, pixels, params):
    ok, encoded = cv2.imencode(extension, np.ascontiguousarray(pixels), params)
    if not ok:
        raise ImageConversionError(f'cv2.imencode({extension!r}) failed on {pixels.shape} '
                                   f'{pixels.dtype.name}')
    return encoded.tobytes()


def _checked(values, encoding):
    layout = LAYOUTS.get(encoding)
    if layout is None:
        raise ImageConversionError(f'unsupported encoding {encoding!r}')
    values = np.asarray(values)
    want = np.dtype(layout.dtype)
    channels = 1 if values.ndim == 2 else values.shape[2] if values.ndim == 3 else 0
    if values.dtype.kind != want.kind or values.dtype.itemsize != want.itemsize or \
            channels != layout.channels or 0 in values.shape:
        raise ImageConversionError(f'{encoding!r} needs a non-empty array of {want.name} with '
                                   f'{layout.channels} channel(s), got {values.shape} '
                                   f'{values.dtype.name}')
    return values, layout


def _to_target(values, layout, target):
    """Lay out colour or mono ``values`` as bgr8/bgr16/mono8 (cv_bridge's conversion)."""
    if layout.channels >= 3:
        values = values[:, :, 2::-1] if layout.order == 'rgb' else values[:, :, :3]
    if target.endswith('8') and values.dtype != np.uint8:
        values = cv2.convertScaleAbs(np.ascontiguousarray(values), alpha=SIXTEEN_TO_EIGHT)
    return values


def encode_image(values, encoding, codec='jpeg', jpeg_quality=JPEG_QUALITY,
                 png_level=PNG_LEVEL, header=None):
    """
    Return the sensor_msgs/CompressedImage compressed_image_transport publishes.

    ``values``: the image laid out as ``encoding``, as conversion.array_to_image takes
    it. JPEG takes colour (sent as bgr8) and mono8/mono16 (sent as mono8); PNG takes
    8- and 16-bit images (colour sent as bgr8/bgr16, the rest as they are); TIFF takes
    8-, 16- and 32-bit images as they are. ``header`` (std_msgs/Header) is used as is.
    """
    values, layout = _checked(values, encoding)
    bits = np.dtype(layout.dtype).itemsize * 8
    colour = encoding in COLOUR_ENCODINGS
    if codec == 'jpeg':
        if not (colour or encoding in MONO_ENCODINGS):
            raise ImageConversionError(f'JPEG compression takes colour or mono images, not '
                                       f'{encoding!r}')
        target = 'bgr8' if colour else 'mono8'
        payload = _imencode('.jpg', _to_target(values, layout, target),
                            [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
    elif codec == 'png':
        if bits not in (8, 16):
            raise ImageConversionError(f'PNG compression takes 8- or 16-bit images, not '
                                       f'{encoding!r}')
        target = f'bgr{bits}' if colour else ''
        pixels = _to_target(values, layout, target) if colour else values
        payload = _imencode('.png', pixels, [cv2.IMWRITE_PNG_COMPRESSION, int(png_level)])
    elif codec == 'tiff':
        target = ''
        payload = _imencode('.tiff', values, [])
    else:
        raise ImageConversionError(f'codec must be one of {", ".join(CODECS)}, got {codec!r}')
    return _message(header, f'{encoding}; {codec} compressed {target}', payload)


# compressedDepth

def parse_depth_format(text):
    """Return the DepthFormat of a ``compressedDepth`` message's ``format`` string."""
    encoding, separator, rest = str(text).partition(';')
    encoding = encoding.strip()
    codec = 'png'  # older publishers: PNG only, and no codec named
    if separator:
        found = _DEPTH_FORMAT.match(rest)
        if found is None:
            raise ImageConversionError(f'unknown compressedDepth format {_shown(text)}; '
                                       'expected "<encoding>; compressedDepth png|rvl"')
        codec = (found.group(1) or 'png').lower()
    if codec not in DEPTH_CODECS:
        raise ImageConversionError(f'compressedDepth format {_shown(text)}: codec {codec!r} '
                                   f'is not one of {", ".join(DEPTH_CODECS)}')
    if encoding not in DEPTH_ENCODINGS:
        raise ImageConversionError(f'compressedDepth format {_shown(text)}: encoding '
                                   f'{encoding!r} is not one of {", ".join(DEPTH_ENCODINGS)}')
    return DepthFormat(encoding, codec)


def depth_quantisation(depth_max=DEPTH_MAX, depth_quantization=DEPTH_QUANTIZATION):
    """Return the plugin's (depthParam[0], depthParam[1]) for 32FC1, as float32."""
    a = np.float32(depth_quantization) * (np.float32(depth_quantization) + np.float32(1.0))
    return a, np.float32(1.0) - a / np.float32(depth_max)


def decode_depth(format_text, data):
    """
    Decode a ``compressedDepth`` message's ``format`` and ``data`` into depth values.

    Returns (H, W) uint16 for 16UC1 and mono16 (the sensor's unit, 0: no reading) or
    (H, W) float32 metres for 32FC1 (NaN: no reading), as conversion.depth_to_array
    gives a raw depth image. Raises ImageConversionError when the header or the image
    after it does not fit.
    """
    parsed = parse_depth_format(format_text)
    what = f'compressedDepth {_shown(format_text)}'
    buffer = _bytes_of(data)
    if buffer.size <= CONFIG_HEADER.size:
        raise ImageConversionError(f'{what}: {buffer.size} bytes, no more than its '
                                   f'{CONFIG_HEADER.size}-byte configuration header')
    kind, quant_a, quant_b = CONFIG_HEADER.unpack(buffer[:CONFIG_HEADER.size].tobytes())
    if kind != INV_DEPTH:
        raise ImageConversionError(f'{what}: configuration header names format {kind}, '
                                   f'not INV_DEPTH ({INV_DEPTH})')
    body = buffer[CONFIG_HEADER.size:]
    if parsed.codec == 'rvl':
        quantised = _rvl_image(body, what)
    else:
        quantised = _imdecode(body, f'{what}: PNG after the header')
        if quantised.ndim != 2 or quantised.dtype != np.uint16:
            channels = 1 if quantised.ndim == 2 else quantised.shape[2]
            raise ImageConversionError(f'{what}: the PNG holds {channels} channel(s) of '
                                       f'{quantised.dtype.name}, not one of uint16')
    if parsed.encoding != '32FC1':
        return quantised
    if not (np.isfinite([quant_a, quant_b]).all() and quant_a > 0):
        raise ImageConversionError(f'{what}: quantisation parameters {quant_a:g}, {quant_b:g} '
                                   'in the header cannot give depth')
    with np.errstate(divide='ignore', invalid='ignore'):
        depth = np.float32(quant_a) / (quantised.astype(np.float32) - np.float32(quant_b))
    depth[quantised == 0] = np.nan
    return depth


def compressed_depth_to_array(msg):
    """Return the depth values of a ``compressedDepth`` message (see decode_depth)."""
    return decode_depth(msg.format, msg.data)


def encode_depth(values, encoding, codec='png', depth_max=DEPTH_MAX,
                 depth_quantization=DEPTH_QUANTIZATION, png_level=PNG_LEVEL, header=None):
    """
    Return the sensor_msgs/CompressedImage compressed_depth_image_transport publishes.

    ``values``: (H, W) uint16 for 16UC1 / mono16 (millimetres; readings beyond
    ``depth_max`` metres become 0), float32 metres for 32FC1 (quantised as inverse
    depth; NaN, non-positive and readings at or beyond ``depth_max`` become 0, no
    reading, as do readings too near for 16 bits).
    """
    if encoding not in DEPTH_ENCODINGS:
        raise ImageConversionError(f'compressedDepth takes {", ".join(DEPTH_ENCODINGS)}, '
                                   f'not {encoding!r}')
    values, _ = _checked(values, encoding)
    quant_a = quant_b = np.float32(0.0)  # the plugin leaves them unset for 16-bit depth
    if encoding == '32FC1':
        quant_a, quant_b = depth_quantisation(depth_max, depth_quantization)
        depth = values.astype(np.float32)
        with np.errstate(divide='ignore', invalid='ignore'):
            inverse = quant_a / depth + quant_b
        usable = (depth > 0) & (depth < np.float32(depth_max)) & (inverse < 65536)
        quantised = np.where(usable, inverse, 0).astype(np.uint16)  # truncated, as in C++
    else:
        quantised = values.astype(np.uint16, copy=True)
        quantised[quantised > int(depth_max * 1000.0)] = 0  # as unsigned short, in mm
    if codec == 'png':
        image = _imencode('.png', quantised, [cv2.IMWRITE_PNG_COMPRESSION, int(png_level)])
    elif codec == 'rvl':
        height, width = quantised.shape
        image = struct.pack('<II', width, height) + rvl_encode(quantised.reshape(-1))
    else:
        raise ImageConversionError(f'codec must be one of {", ".join(DEPTH_CODECS)}, '
                                   f'got {codec!r}')
    payload = CONFIG_HEADER.pack(INV_DEPTH, float(quant_a), float(quant_b)) + image
    return _message(header, f'{encoding}; compressedDepth {codec}', payload)


# RVL (Wilson, "Fast Lossless Depth Image Compression", 2017), as the plugin runs it: per
# run of zeros then of non-zeros, the two lengths and each non-zero pixel's zig-zag
# delta from the previous non-zero one, every value in 3-bit groups (low first, bit 4
# set while more follow), eight such nibbles per little-endian 32-bit word, first
# nibble in the top bits.

_SHIFTS = np.arange(28, -1, -4, dtype=np.uint32)


def _run_layout(nonzeros):
    """
    Where each run's two lengths lie in the value stream, and which values are deltas.

    ``nonzeros``: the runs' non-zero counts. Returns (heads, is_delta): the index of
    each run's zero count (its non-zero count follows), and a mask over the stream.
    """
    heads = 2 * np.arange(len(nonzeros)) + np.concatenate([[0], np.cumsum(nonzeros)[:-1]])
    is_delta = np.ones(2 * len(nonzeros) + int(np.sum(nonzeros)), bool)
    is_delta[heads] = is_delta[heads + 1] = False
    return heads.astype(np.int64), is_delta


def rvl_encode(values):
    """Return the RVL bytes of flat uint16 ``values`` (the plugin's CompressRVL)."""
    values = np.asarray(values, np.uint16).reshape(-1)
    if values.size == 0:
        return b''
    nonzero = values != 0
    starts = np.concatenate([[0], np.flatnonzero(nonzero[1:] != nonzero[:-1]) + 1])
    lengths = np.diff(np.concatenate([starts, [values.size]]))
    if nonzero[0]:
        lengths = np.concatenate([[0], lengths])   # an empty run of zeros first
    if lengths.size % 2:
        lengths = np.concatenate([lengths, [0]])   # an empty run of non-zeros last
    pairs = lengths.reshape(-1, 2)
    current = values[nonzero].astype(np.int64)
    delta = current - np.concatenate([[0], current[:-1]])
    zigzag = (delta << 1) ^ (delta >> 31)
    stream = np.empty(pairs.size + zigzag.size, np.int64)
    heads, is_delta = _run_layout(pairs[:, 1])
    stream[heads], stream[heads + 1], stream[is_delta] = pairs[:, 0], pairs[:, 1], zigzag
    groups = np.ones(stream.size, np.int64)
    for shift in range(3, 64, 3):
        more = (stream >> shift) > 0
        if not more.any():
            break
        groups += more
    value = np.repeat(stream, groups)
    index = np.arange(value.size) - np.repeat(np.cumsum(groups) - groups, groups)
    nibbles = ((value >> (3 * index)) & 7) | np.where(index < np.repeat(groups, groups) - 1,
                                                      8, 0)
    nibbles = np.concatenate([nibbles, np.zeros(-nibbles.size % 8, np.int64)])
    words = (nibbles.reshape(-1, 8).astype(np.uint32) << _SHIFTS).sum(axis=1, dtype=np.uint32)
    return words.astype('<u4').tobytes()


def rvl_decode(data, count):
    """
    Return ``count`` uint16 values from RVL bytes (the plugin's DecompressRVL).

    Raises ImageConversionError when the data runs out first or its runs overrun
    ``count``, where the plugin would read or write past its buffers.
    """
    buffer = _bytes_of(data)
    buffer = np.concatenate([buffer, np.zeros(-buffer.size % 4, np.uint8)])
    words = buffer.view('<u4').astype(np.uint32)
    nibbles = ((words[:, None] >> _SHIFTS) & 0xF).reshape(-1).astype(np.int64)
    ends = np.flatnonzero(nibbles < 8)
    if ends.size == 0:
        raise ImageConversionError('RVL data holds no complete value')
    nibbles = nibbles[:ends[-1] + 1]
    starts = np.concatenate([[0], ends[:-1] + 1])
    groups = ends - starts + 1
    if groups.max() > 11:
        raise ImageConversionError('RVL data holds a value of more than 32 bits')
    index = np.arange(nibbles.size) - np.repeat(starts, groups)
    stream = np.add.reduceat((nibbles & 7) << (3 * index), starts)
    runs, position, left = [], 0, count
    while left > 0:
        if position + 2 > stream.size:
            raise ImageConversionError(f'RVL data ends {left} of {count} pixels early')
        zeros, nonzeros = int(stream[position]), int(stream[position + 1])
        left -= zeros + nonzeros
        if left < 0 or position + 2 + nonzeros > stream.size:
            raise ImageConversionError(f'RVL runs do not fit {count} pixels')
        runs.append((zeros, nonzeros))
        position += 2 + nonzeros
    runs = np.array(runs, np.int64).reshape(-1, 2)
    is_nonzero = np.repeat(np.tile([False, True], len(runs)), runs.reshape(-1))
    zigzag = stream[:position][_run_layout(runs[:, 1])[1]]
    out = np.zeros(count, np.uint16)
    out[is_nonzero] = np.cumsum((zigzag >> 1) ^ -(zigzag & 1)) & 0xFFFF
    return out


def _rvl_image(body, what):
    """Decode the plugin's RVL image: uint32 width, uint32 height, then RVL."""
    if body.size < 8:
        raise ImageConversionError(f'{what}: {body.size} bytes after the header, too few for '
                                   'an RVL image size')
    width, height = struct.unpack('<II', body[:8].tobytes())
    if width == 0 or height == 0:
        raise ImageConversionError(f'{what}: RVL image size {width}x{height} contains zero')
    # The plugin's check: RVL compresses at best 4:1, so 10 times the data is corrupt.
    if width * height > min(2**31 - 1, body.size * 5):
        raise ImageConversionError(f'{what}: RVL image size {width}x{height} is more than its '
                                   f'{body.size} bytes can hold')
    try:
        return rvl_decode(body[8:], width * height).reshape(height, width)
    except ImageConversionError as error:
        raise ImageConversionError(f'{what}: {error}') from None
