# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
Message conversion: sensor_msgs/Image <-> numpy, model result <-> MultimodalFeatures.

The node converts images itself because the ROS 2 cv_bridge is not installable
from PyPI (see README). What a decoded image looks like:

- rgb8, bgr8, mono8, 8UC1, 8UC3 (OpenCV's BGR) and the alpha encodings rgba8,
  bgra8, 8UC4 (BGRA) come back as zero-copy views of ``msg.data`` (row padding
  kept as a stride, alpha dropped by a strided view), marked read-only.
- 16-bit intensity encodings (mono16, rgb16, bgr16, rgba16, bgra16, bayer_*16)
  scale by the fixed factor 255/65535 with rounding, exactly as cv_bridge turns
  mono16 into mono8: an 8-bit value means the same brightness in every frame.
  Data from a 10- or 12-bit sensor stored in the low bits therefore looks dark;
  have the driver shift it to the high bits or publish 8 bits.
- 16UC1 and 32FC1 carry data without a display range (depth in mm or m,
  disparity), so each frame is stretched linearly from its own minimum (0) to
  its maximum (255); NaN and +-inf become 0 and are left out of the range, and
  a constant frame becomes all zeros.
- bayer_{rggb,bggr,gbrg,grbg}{8,16} are demosaiced by OpenCV (bilinear) to RGB,
  16-bit ones at full depth before scaling, as cv_bridge does.
- uyvy and its old name yuv422, yuyv and its old name yuv422_yuy2 are converted
  by OpenCV to RGB; their width must be even.

Anything else (nv21, nv24, signed and 64-bit types, malformed sizes) raises
:class:`ImageConversionError` with a one-line reason.
"""

import array
import sys
from typing import NamedTuple

import cv2
import numpy as np

SIXTEEN_TO_EIGHT = 255.0 / 65535.0  # the fixed 16-bit to 8-bit scale (cv_bridge's)


class ImageConversionError(ValueError):
    """An image message that cannot be converted; the message says why in one line."""


class _Layout(NamedTuple):
    channels: int   # values per pixel in msg.data
    dtype: str      # numpy type of one value, byte order left out
    kind: str       # 'view', 'scale16', 'stretch', 'bayer' or 'yuv'
    order: str      # channel order of the decoded array: 'rgb', 'bgr' or 'mono'
    cv_code: int = -1  # OpenCV conversion for bayer and yuv


def _bayer(pattern, dtype):
    return _Layout(1, dtype, 'bayer', 'rgb', getattr(cv2, f'COLOR_Bayer{pattern}2RGB'))


LAYOUTS = {
    'rgb8': _Layout(3, 'u1', 'view', 'rgb'),
    'bgr8': _Layout(3, 'u1', 'view', 'bgr'),
    '8UC3': _Layout(3, 'u1', 'view', 'bgr'),
    'rgba8': _Layout(4, 'u1', 'view', 'rgb'),
    'bgra8': _Layout(4, 'u1', 'view', 'bgr'),
    '8UC4': _Layout(4, 'u1', 'view', 'bgr'),
    'mono8': _Layout(1, 'u1', 'view', 'mono'),
    '8UC1': _Layout(1, 'u1', 'view', 'mono'),
    'mono16': _Layout(1, 'u2', 'scale16', 'mono'),
    'rgb16': _Layout(3, 'u2', 'scale16', 'rgb'),
    'bgr16': _Layout(3, 'u2', 'scale16', 'bgr'),
    'rgba16': _Layout(4, 'u2', 'scale16', 'rgb'),
    'bgra16': _Layout(4, 'u2', 'scale16', 'bgr'),
    '16UC1': _Layout(1, 'u2', 'stretch', 'mono'),
    '32FC1': _Layout(1, 'f4', 'stretch', 'mono'),
    # ROS names the pattern of the top-left 2x2 block, as does OpenCV's *RGGB* alias
    # (older OpenCV spells COLOR_BayerRGGB2RGB as COLOR_BayerBG2RGB; same constant).
    'bayer_rggb8': _bayer('RGGB', 'u1'),
    'bayer_bggr8': _bayer('BGGR', 'u1'),
    'bayer_gbrg8': _bayer('GBRG', 'u1'),
    'bayer_grbg8': _bayer('GRBG', 'u1'),
    'bayer_rggb16': _bayer('RGGB', 'u2'),
    'bayer_bggr16': _bayer('BGGR', 'u2'),
    'bayer_gbrg16': _bayer('GBRG', 'u2'),
    'bayer_grbg16': _bayer('GRBG', 'u2'),
    'uyvy': _Layout(2, 'u1', 'yuv', 'rgb', cv2.COLOR_YUV2RGB_UYVY),
    'yuv422': _Layout(2, 'u1', 'yuv', 'rgb', cv2.COLOR_YUV2RGB_UYVY),
    'yuyv': _Layout(2, 'u1', 'yuv', 'rgb', cv2.COLOR_YUV2RGB_YUYV),
    'yuv422_yuy2': _Layout(2, 'u1', 'yuv', 'rgb', cv2.COLOR_YUV2RGB_YUYV),
}
SUPPORTED_ENCODINGS = tuple(LAYOUTS)


def _layout(encoding):
    layout = LAYOUTS.get(encoding)
    if layout is None:
        shown = encoding if len(encoding) <= 40 else encoding[:40] + '...'
        raise ImageConversionError(
            f'unsupported encoding {shown!r}; supported: {", ".join(SUPPORTED_ENCODINGS)}')
    return layout


def _bytes_of(data):
    """Return ``data`` as a flat uint8 array, a view when it supports the buffer protocol."""
    try:
        view = memoryview(data)
    except TypeError:
        # A plain list of ints (a message built by hand): one copy, checked.
        try:
            return np.asarray(data, dtype=np.uint8).reshape(-1)
        except (TypeError, ValueError, OverflowError) as error:
            raise ImageConversionError(f'data is not a byte sequence: {error}') from None
    if view.format != 'B' or view.ndim != 1:
        try:
            view = view.cast('B')
        except TypeError:
            raise ImageConversionError('data is not a contiguous byte buffer') from None
    try:
        return np.frombuffer(view, dtype=np.uint8)
    except ValueError:
        raise ImageConversionError('data is not a contiguous byte buffer') from None


def _raw_view(msg, layout):
    """
    Validate the message's sizes and view its pixels without copying.

    Returns an (H, W) array for one channel, else (H, W, C), of the layout's
    type in the message's byte order; rows keep ``step`` as their stride.
    """
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    size = f'image {width}x{height} {msg.encoding!r}'
    if width <= 0 or height <= 0:
        raise ImageConversionError(f'{size}: width and height must be positive')
    dtype = np.dtype(layout.dtype)
    if dtype.itemsize > 1:
        dtype = dtype.newbyteorder('>' if msg.is_bigendian else '<')
    row_bytes = width * layout.channels * dtype.itemsize
    if step < row_bytes:
        raise ImageConversionError(
            f'{size}: step {step} is less than width x bytes per pixel = {row_bytes}')
    if step % dtype.itemsize:
        raise ImageConversionError(
            f'{size}: step {step} is not a multiple of the {dtype.itemsize}-byte value size')
    if layout.kind == 'yuv' and width % 2:
        raise ImageConversionError(f'{size}: 4:2:2 YUV needs an even width')
    buffer = _bytes_of(msg.data)
    if buffer.size < step * height:
        raise ImageConversionError(
            f'{size}: data has {buffer.size} bytes, step x height needs {step * height}')
    if layout.channels == 1:
        shape, strides = (height, width), (step, dtype.itemsize)
    else:
        shape = (height, width, layout.channels)
        strides = (step, layout.channels * dtype.itemsize, dtype.itemsize)
    return np.ndarray(shape, dtype=dtype, buffer=buffer, strides=strides)


def _native(values):
    """Return ``values`` in this machine's byte order (a copy only when it differs)."""
    if values.dtype.isnative:
        return values
    return values.astype(values.dtype.newbyteorder('='))


def _stretch(values):
    """
    Map one frame's finite range linearly onto 0..255.

    ``values``: (H, W) uint16 or float32 in native byte order. Returns (H, W)
    uint8; non-finite values and constant frames give 0.
    """
    finite = None
    if values.dtype.kind == 'f':
        finite = np.isfinite(values)
        if finite.all():
            finite = None
    valid = values if finite is None else values[finite]
    if valid.size == 0:
        return np.zeros(values.shape, np.uint8)
    low, high = float(valid.min()), float(valid.max())
    if high <= low:
        return np.zeros(values.shape, np.uint8)
    scale = 255.0 / (high - low)
    out = cv2.convertScaleAbs(values, alpha=scale, beta=-low * scale)
    if finite is not None:
        out[~finite] = 0
    return out


def stamp_seconds(stamp):
    """Return a builtin_interfaces/Time as float seconds."""
    return stamp.sec + stamp.nanosec * 1e-9


def image_to_array(msg):
    """
    Decode a sensor_msgs/Image into what the model takes.

    Returns ``(array, channel_order)``: a uint8 array of shape (H, W, 3) with
    channel_order 'rgb' or 'bgr', or (H, W) with 'mono' (see the module
    docstring for each encoding), possibly a non-contiguous view. Views of
    ``msg.data`` are read-only; keep the message alive while the array is in
    use. Raises ImageConversionError for an unknown encoding or sizes that do
    not fit the data.
    """
    encoding = str(msg.encoding)
    layout = _layout(encoding)
    raw = _raw_view(msg, layout)
    try:
        if layout.kind == 'view':
            out = raw[:, :, :3] if layout.channels == 4 else raw
            out.flags.writeable = False
        elif layout.kind == 'scale16':
            # Alpha is scaled too and then dropped by a view: cheaper than handing
            # OpenCV a strided 3-of-4-channel view, which it would copy first.
            out = cv2.convertScaleAbs(_native(raw), alpha=SIXTEEN_TO_EIGHT)
            if layout.channels == 4:
                out = out[:, :, :3]
        elif layout.kind == 'stretch':
            out = _stretch(_native(raw))
        elif layout.kind == 'bayer':
            out = cv2.cvtColor(_native(raw), layout.cv_code)
            if out.dtype != np.uint8:
                out = cv2.convertScaleAbs(out, alpha=SIXTEEN_TO_EIGHT)
        else:
            out = cv2.cvtColor(raw, layout.cv_code)
    except cv2.error as error:
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else 'OpenCV error'
        raise ImageConversionError(
            f'image {raw.shape[1]}x{raw.shape[0]} {encoding!r}: {reason}') from None
    return out, layout.order


# Depth encodings: integer depth in units of depth_scale metres, or float metres.
DEPTH_ENCODINGS = ('16UC1', 'mono16', '32FC1')


def depth_to_array(msg):
    """
    Return the depth values of a sensor_msgs/Image as they are, with no copy.

    16UC1 and mono16 give (H, W) uint16 in the sensor's unit (millimetres for
    RealSense, Orbbec, OAK-D and Azure Kinect drivers; the node's depth_scale says),
    32FC1 gives (H, W) float32 metres; byte order made native (a copy only for
    big-endian data). Raises ImageConversionError for another encoding or sizes
    that do not fit the data.
    """
    encoding = str(msg.encoding)
    if encoding not in DEPTH_ENCODINGS:
        shown = encoding if len(encoding) <= 40 else encoding[:40] + '...'
        raise ImageConversionError(f'unsupported depth encoding {shown!r}; supported: '
                                   f'{", ".join(DEPTH_ENCODINGS)}')
    return _native(_raw_view(msg, LAYOUTS[encoding]))


def array_to_image(values, encoding, header=None):
    """
    Pack an array laid out as ``encoding`` into a new sensor_msgs/Image.

    ``values``: (H, W) or (H, W, 1) for one-channel encodings (mono, bayer,
    16UC1, 32FC1), (H, W, 2) for 4:2:2 YUV, (H, W, C) otherwise; uint8, uint16
    for 16-bit encodings, float32 for 32FC1 (see :func:`encode_rgb` to make one
    from an RGB image). Rows are packed without padding in this machine's byte
    order; the data is copied once. ``header`` (std_msgs/Header) is used as is.
    """
    from sensor_msgs.msg import Image

    layout = _layout(encoding)
    values = np.asarray(values)
    want = np.dtype(layout.dtype)
    if values.dtype.kind != want.kind or values.dtype.itemsize != want.itemsize:
        raise ImageConversionError(
            f'{encoding!r} needs {want.name} values, got {values.dtype.name}')
    if values.ndim == 3 and values.shape[2] == 1 and layout.channels == 1:
        values = values[:, :, 0]
    shape_ok = values.ndim == 2 if layout.channels == 1 else (
        values.ndim == 3 and values.shape[2] == layout.channels)
    if not shape_ok or values.shape[0] == 0 or values.shape[1] == 0:
        raise ImageConversionError(
            f'{encoding!r} needs a non-empty array with {layout.channels} channel(s), '
            f'got shape {values.shape}')
    if layout.kind == 'yuv' and values.shape[1] % 2:
        raise ImageConversionError(f'{encoding!r} needs an even width, got {values.shape[1]}')
    packed = np.ascontiguousarray(values, dtype=want.newbyteorder('='))
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height, msg.width = int(packed.shape[0]), int(packed.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = want.itemsize > 1 and sys.byteorder == 'big'
    msg.step = int(packed.strides[0])
    data = array.array('B')
    data.frombytes(memoryview(packed).cast('B'))
    msg.data = data  # an array.array('B') is stored as is, without a per-byte check
    return msg


def _mosaic(rgb, pattern):
    """Sample (H, W, 3) RGB through a Bayer pattern such as 'rggb'; returns (H, W)."""
    raw = np.empty(rgb.shape[:2], rgb.dtype)
    for (dy, dx), colour in zip(((0, 0), (0, 1), (1, 0), (1, 1)), pattern):
        raw[dy::2, dx::2] = rgb[dy::2, dx::2, 'rgb'.index(colour)]
    return raw


def encode_rgb(rgb, encoding):
    """
    Lay out an RGB image as ``encoding`` stores it (for array_to_image).

    ``rgb``: (H, W, 3) uint8. Returns the array array_to_image takes for that
    encoding: 16-bit values are v * 257 (so decoding gives v back), 16UC1 and
    32FC1 hold the grey level (x 257, / 255), Bayer keeps one colour per pixel,
    YUV is OpenCV's 4:2:2 (even width only).
    """
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ImageConversionError(f'encode_rgb needs (H, W, 3) uint8, got {rgb.shape} '
                                   f'{rgb.dtype.name}')
    layout = _layout(encoding)
    if layout.kind == 'yuv':
        if rgb.shape[1] % 2:
            raise ImageConversionError(f'{encoding!r} needs an even width, got {rgb.shape[1]}')
        code = cv2.COLOR_RGB2YUV_UYVY if layout.cv_code == cv2.COLOR_YUV2RGB_UYVY \
            else cv2.COLOR_RGB2YUV_YUYV
        return cv2.cvtColor(np.ascontiguousarray(rgb), code)
    if layout.kind == 'bayer':
        out = _mosaic(rgb, encoding.split('_')[1][:4])
    elif layout.order == 'mono':
        out = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    else:
        out = rgb if layout.order == 'rgb' else rgb[:, :, ::-1]
        if layout.channels == 4:
            out = np.concatenate([out, np.full(out.shape[:2] + (1,), 255, np.uint8)], axis=2)
    if layout.dtype == 'u2':
        return out.astype(np.uint16) * np.uint16(257)
    if layout.dtype == 'f4':
        return out.astype(np.float32) / np.float32(255.0)
    return np.ascontiguousarray(out)


def _float32_array(values):
    """Return an array.array('f') of ``values`` flattened, in one copy (no element loop)."""
    out = array.array('f')
    out.frombytes(memoryview(np.ascontiguousarray(values, dtype=np.float32).reshape(-1)).cast('B'))
    return out


def result_to_msg(result, header, command, queries, model_id, backend, image_width,
                  image_height, positions_3d=None, sizes_3d=None):
    """
    Fill a MultimodalFeatures message from one model result.

    ``result``: a DetectionResult (vision_features (D_v,), text_features
    (Q, D_t), fused_features (Q, D_f), boxes (N, 4), scores (N,), labels N
    strings). ``queries``: the Q query strings. Boxes are clipped to the image,
    as the message promises. ``positions_3d`` and ``sizes_3d``: (N, 3) metres
    (NaN rows allowed), or None to leave the 3D fields empty. Raises ValueError
    when the sizes disagree.
    """
    from vlm_perception.msg import MultimodalFeatures

    queries = [str(query) for query in queries]
    vision = np.asarray(result.vision_features, dtype=np.float32)
    text = np.asarray(result.text_features, dtype=np.float32)
    fused = np.asarray(result.fused_features, dtype=np.float32)
    boxes = np.asarray(result.boxes, dtype=np.float32)
    scores = np.asarray(result.scores, dtype=np.float32)
    labels = [str(label) for label in result.labels]
    count = len(labels)
    if vision.ndim != 1:
        raise ValueError(f'vision_features must be (D_v,), got {vision.shape}')
    for name, rows in (('text_features', text), ('fused_features', fused)):
        if rows.ndim != 2 or rows.shape[0] != len(queries):
            raise ValueError(f'{name} must be ({len(queries)}, D), got {rows.shape}')
    if boxes.size != 4 * count or scores.size != count:
        raise ValueError(f'{count} labels need boxes ({count}, 4) and scores ({count},), '
                         f'got {boxes.shape} and {scores.shape}')
    in_3d = [np.asarray(values, np.float32) for values in (positions_3d, sizes_3d)
             if values is not None]
    if in_3d and (len(in_3d) != 2 or any(values.size != 3 * count for values in in_3d)):
        raise ValueError(f'{count} labels need positions_3d and sizes_3d ({count}, 3) together')
    width, height = int(image_width), int(image_height)
    boxes = boxes.reshape(count, 4).copy()
    np.clip(boxes[:, 0::2], 0.0, float(width), out=boxes[:, 0::2])
    np.clip(boxes[:, 1::2], 0.0, float(height), out=boxes[:, 1::2])

    msg = MultimodalFeatures()
    msg.header = header
    msg.command = str(command)
    msg.queries = queries
    msg.model_id = str(model_id)
    msg.model_backend = str(backend)
    msg.image_width, msg.image_height = width, height
    msg.vision_features = _float32_array(vision)
    msg.vision_dim = int(vision.shape[0])
    msg.text_features = _float32_array(text)
    msg.text_dim = int(text.shape[1])
    msg.fused_features = _float32_array(fused)
    msg.fused_dim = int(fused.shape[1])
    msg.detected_objects = labels
    msg.object_positions = _float32_array(boxes)
    msg.object_scores = _float32_array(scores)
    if in_3d:
        msg.object_positions_3d = _float32_array(in_3d[0])
        msg.object_sizes_3d = _float32_array(in_3d[1])
    return msg


def _float32_values(values):
    try:
        return np.frombuffer(memoryview(values).cast('B'), dtype=np.float32)
    except TypeError:
        return np.asarray(values, dtype=np.float32).reshape(-1)


def _rows(values, rows, dim, name):
    flat = _float32_values(values)
    if flat.size != rows * dim:
        raise ValueError(f'{name} has {flat.size} values, expected {rows} x {dim}')
    return flat.reshape(rows, dim)


def msg_to_arrays(msg):
    """
    Reshape a received MultimodalFeatures into arrays (views where possible).

    Returns a dict: vision (D_v,), text (Q, D_t), fused (Q, D_f), boxes (N, 4),
    scores (N,) float32; query_indices (N,) int64 (-1 for a label that is not
    one of the queries); labels (N) and queries (Q) lists of str; command,
    model_id, backend, frame_id str; stamp float seconds; image_width,
    image_height int; positions_3d and sizes_3d (N, 3) float32 metres, or None
    when the message carries no 3D. Raises ValueError when an array's length does
    not match its *_dim field (or the 3D fields the detections).
    """
    queries = list(msg.queries)
    labels = list(msg.detected_objects)
    count = len(labels)
    index_of = {query: index for index, query in reversed(list(enumerate(queries)))}
    in_3d = {}
    for key, field in (('positions_3d', 'object_positions_3d'), ('sizes_3d', 'object_sizes_3d')):
        values = getattr(msg, field)
        in_3d[key] = _rows(values, count, 3, field) if len(values) or not count else None
    if (in_3d['positions_3d'] is None) != (in_3d['sizes_3d'] is None):
        raise ValueError('object_positions_3d and object_sizes_3d must both be set or empty')
    return {
        **in_3d,
        'vision': _rows(msg.vision_features, 1, msg.vision_dim, 'vision_features')[0],
        'text': _rows(msg.text_features, len(queries), msg.text_dim, 'text_features'),
        'fused': _rows(msg.fused_features, len(queries), msg.fused_dim, 'fused_features'),
        'boxes': _rows(msg.object_positions, count, 4, 'object_positions'),
        'scores': _rows(msg.object_scores, 1, count, 'object_scores')[0],
        'query_indices': np.array([index_of.get(label, -1) for label in labels], np.int64),
        'labels': labels,
        'queries': queries,
        'command': msg.command,
        'model_id': msg.model_id,
        'backend': msg.model_backend,
        'frame_id': msg.header.frame_id,
        'stamp': msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9,
        'image_width': int(msg.image_width),
        'image_height': int(msg.image_height),
    }


# Distinct box colours (RGB), one per query index, cycling.
PALETTE = np.array([
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
], np.uint8)


def distance_label(label, score, position):
    """Return 'label 0.93 0.82 m' (distance from the camera), or 'label 0.93' without one."""
    text = f'{label} {float(score):.2f}'
    if position is not None and np.all(np.isfinite(position)):
        text += f' {float(np.linalg.norm(position)):.2f} m'
    return text


def draw_detections(image, result, channel_order='rgb', positions=None):
    """
    Draw each detection's box and 'label score' on a copy of ``image``.

    ``image``: (H, W, 3) uint8 in ``channel_order`` ('rgb' or 'bgr') or (H, W)
    ('mono'), possibly a read-only strided view; never modified. ``result``:
    boxes (N, 4), scores (N,), labels, query_indices (N,) (box colour).
    ``positions``: (N, 3) metres or None; where a row is finite, the label
    adds the distance from the camera ('red cup 0.93 0.82 m'). Returns a new
    (H, W, 3) uint8 image in ``channel_order``, RGB for mono input. Non-ASCII
    label characters are drawn as '?'.
    """
    image = np.asarray(image)
    if image.ndim == 2:
        canvas = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_GRAY2RGB)
    else:
        canvas = np.array(image, dtype=np.uint8, order='C', copy=True)
    height, width = canvas.shape[:2]
    palette = PALETTE[:, ::-1] if channel_order == 'bgr' else PALETTE
    thickness = max(1, round(min(height, width) / 320))
    font_scale = 0.4 * thickness
    boxes = np.asarray(result.boxes, dtype=np.float32).reshape(-1, 4)
    indices = np.asarray(getattr(result, 'query_indices', np.zeros(len(boxes))), np.int64)
    located = [None] * len(boxes) if positions is None else np.reshape(positions, (-1, 3))
    detections = list(zip(boxes, result.scores, result.labels, indices, located))
    for box, score, label, index, position in reversed(detections):  # the best one on top
        if not np.all(np.isfinite(box)):
            continue
        x0, y0, x1, y1 = np.clip(np.rint(box), 0, [width - 1, height - 1] * 2).astype(int)
        colour = tuple(int(c) for c in palette[int(index) % len(palette)])
        cv2.rectangle(canvas, (x0, y0), (x1, y1), colour, thickness)
        text = distance_label(label, score, position).encode('ascii', 'replace').decode('ascii')
        (text_w, text_h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale,
                                                 thickness)
        top = y0 - text_h - base if y0 - text_h - base >= 0 else min(y0 + 1, height - 1)
        cv2.rectangle(canvas, (x0, top), (x0 + text_w, top + text_h + base), colour, cv2.FILLED)
        cv2.putText(canvas, text, (x0, top + text_h), cv2.FONT_HERSHEY_SIMPLEX, font_scale,
                    (0, 0, 0), thickness, cv2.LINE_AA)
    return canvas


def camera_info_from_intrinsics(intrinsics, width, height, header=None):
    """
    Return the sensor_msgs/CameraInfo of an undistorted pinhole camera.

    ``intrinsics``: (fx, fy, cx, cy) pixels, e.g. a geometry.PinholeIntrinsics, for
    frames of ``width`` x ``height``. K from them, P = [K | 0] (a monocular camera,
    already rectified), R the identity, D five zeros of the plumb_bob model.
    """
    from sensor_msgs.msg import CameraInfo

    fx, fy, cx, cy = (float(value) for value in intrinsics)
    msg = CameraInfo()
    if header is not None:
        msg.header = header
    msg.width, msg.height = int(width), int(height)
    msg.distortion_model = 'plumb_bob'
    msg.d = [0.0] * 5
    msg.k = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.p = [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return msg
