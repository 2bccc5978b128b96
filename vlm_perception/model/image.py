# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
Image preprocessing in torch, from a uint8 numpy array to normalised pixel values.

Every backend turns the caller's array into model input the same way: the array is wrapped
without copying (``torch.from_numpy`` accepts row-padded views) and uploaded once as uint8;
channel order, grayscale expansion, resizing, padding and normalisation then run on the
model's device. :class:`InputGeometry` records how the image was placed in the model input
so boxes map back to original pixels exactly, and target boxes map forward for training.
"""

from dataclasses import dataclass
from functools import lru_cache
import warnings

import numpy as np
import torch
import torch.nn.functional as F

# CLIP's normalisation, used by OWL-ViT/OWLv2 and (by default) the native model.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
CHANNEL_ORDERS = ('rgb', 'bgr')


@dataclass(frozen=True)
class InputGeometry:
    """
    Where the original image sits in the model input.

    The image (image_height x image_width pixels) was resized by (scale_y, scale_x) and
    placed at the top-left of an input of input_height x input_width pixels (the rest is
    padding). Model boxes are normalised to the whole input.
    """

    image_height: int
    image_width: int
    scale_y: float
    scale_x: float
    input_height: int
    input_width: int

    def boxes_to_image(self, boxes):
        """
        Map model boxes to original-image pixels.

        boxes: (..., 4) cx, cy, w, h normalised to the model input. Returns (..., 4)
        x_min, y_min, x_max, y_max in original-image pixels, clipped to the image.
        """
        cx, cy, w, h = boxes.unbind(-1)
        fx = self.input_width / self.scale_x
        fy = self.input_height / self.scale_y
        return torch.stack((
            ((cx - 0.5 * w) * fx).clamp(0.0, self.image_width),
            ((cy - 0.5 * h) * fy).clamp(0.0, self.image_height),
            ((cx + 0.5 * w) * fx).clamp(0.0, self.image_width),
            ((cy + 0.5 * h) * fy).clamp(0.0, self.image_height)), dim=-1)

    def boxes_to_input(self, boxes):
        """
        Map original-image boxes to model-input boxes (the inverse of boxes_to_image).

        boxes: (..., 4) x_min, y_min, x_max, y_max in original pixels (tensor or array).
        Returns a float32 tensor (..., 4) cx, cy, w, h normalised to the model input, the
        form ``pred_boxes`` takes, for training targets.
        """
        x0, y0, x1, y1 = torch.as_tensor(boxes, dtype=torch.float32).unbind(-1)
        sx = self.scale_x / self.input_width
        sy = self.scale_y / self.input_height
        return torch.stack((0.5 * (x0 + x1) * sx, 0.5 * (y0 + y1) * sy,
                            (x1 - x0) * sx, (y1 - y0) * sy), dim=-1)


def upload_image(image, device):
    """
    Wrap a uint8 image array as a tensor on ``device`` without modifying it.

    image: (H, W, 3) or (H, W) uint8, possibly a strided view. Returns (H, W, C) uint8 with
    C = 3 or 1. Only arrays with negative strides are copied on the host first.
    """
    if not isinstance(image, np.ndarray):
        raise TypeError(f'image must be a numpy array, not {type(image).__name__}')
    if image.dtype != np.uint8:
        raise ValueError(f'image must be uint8, not {image.dtype}')
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3):
        raise ValueError(f'image must be HxWx3 or HxW, not shape {image.shape}')
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f'image is empty: shape {image.shape}')
    if any(stride < 0 for stride in image.strides):
        image = np.ascontiguousarray(image)
    with warnings.catch_warnings():
        # Read-only views of a ROS message are only read from here; torch warns regardless.
        warnings.filterwarnings('ignore', 'The given NumPy array is not writable')
        pixels = torch.from_numpy(image)
    return pixels.to(device)


def to_rgb(image, channel_order='rgb'):
    """
    View uploaded uint8 pixels as an RGB batch of one, without copying.

    image: (H, W, C) uint8 tensor, C = 3 (in ``channel_order``) or 1 (grayscale).
    Returns a (1, 3, H, W) uint8 view (channels-last in memory).
    """
    if channel_order not in CHANNEL_ORDERS:
        raise ValueError(f'channel_order must be one of {CHANNEL_ORDERS}, not {channel_order!r}')
    pixels = image.permute(2, 0, 1).unsqueeze(0)
    if pixels.shape[1] == 1:
        return pixels.expand(-1, 3, -1, -1)
    if channel_order == 'bgr':
        return pixels.flip(1)
    return pixels


@lru_cache(maxsize=16)
def _normalisation(mean, std, device, dtype):
    # Built once per device: a fresh torch.tensor(..., device='cuda') per frame would be
    # a host-to-device copy (and a sync) every frame.
    scale = torch.tensor([1.0 / (255.0 * s) for s in std], dtype=dtype, device=device)
    shift = torch.tensor([-m / s for m, s in zip(mean, std)], dtype=dtype, device=device)
    return scale.view(1, 3, 1, 1), shift.view(1, 3, 1, 1)


def normalise(pixels, mean, std, dtype=torch.float32):
    """Map (B, 3, H, W) values 0..255 (any dtype) to (pixels / 255 - mean) / std in ``dtype``."""
    scale, shift = _normalisation(tuple(mean), tuple(std), pixels.device, dtype)
    return torch.addcmul(shift, pixels.to(dtype), scale)


def resize(pixels, height, width, mode='bilinear', antialias=True):
    """Resize float (B, C, H, W) to (B, C, height, width); a no-op when the size matches."""
    if tuple(pixels.shape[-2:]) == (height, width):
        return pixels
    return F.interpolate(pixels, size=(height, width), mode=mode, align_corners=False,
                         antialias=antialias)


def resize_8bit(pixels, height, width, mode='bilinear'):
    """
    Resize uint8 (B, C, H, W) pixels as an 8-bit image, anti-aliased; returns float32 0..255.

    This is PIL's resampling (and what transformers' OWL-ViT processor does through PIL):
    a horizontal pass stored as rounded, clipped 8-bit values, then a vertical pass rounded
    again, with PIL's filters (bicubic a = -0.5, widened when shrinking), which are torch's
    anti-aliased ones. On the CPU torch's uint8 kernel does exactly this, and fast
    (channels-last input, 5 ms for 640x480 -> 768x768); elsewhere two float passes with
    rounding do the same. Both agree with PIL within 1-2 levels; a single float pass
    differs by up to 18 levels near sharp edges, where PIL clips the intermediate.
    """
    if tuple(pixels.shape[-2:]) == (height, width):
        return pixels.float()
    if pixels.is_cpu:
        return F.interpolate(pixels, size=(height, width), mode=mode, align_corners=False,
                             antialias=True).float()
    return resize_8bit_float(pixels, height, width, mode)


def resize_8bit_float(pixels, height, width, mode='bilinear'):
    """Do :func:`resize_8bit` in float (any device): two passes, each rounded to 8 bits."""
    pixels = pixels.float()
    pixels = resize(pixels, pixels.shape[-2], width, mode=mode).round().clamp(0.0, 255.0)
    return resize(pixels, height, width, mode=mode).round().clamp(0.0, 255.0)


def pad_bottom_right(pixels, height, width, value=0.0):
    """Pad (B, C, H, W) with ``value`` at the bottom and right to (B, C, height, width)."""
    pad_h, pad_w = height - pixels.shape[-2], width - pixels.shape[-1]
    if pad_h == 0 and pad_w == 0:
        return pixels
    return F.pad(pixels, (0, pad_w, 0, pad_h), value=value)


def fit_geometry(height, width, fit_height, fit_width, multiple):
    """
    Geometry for 'resize to fit, keep aspect ratio, pad to a multiple' (the native model).

    The image is scaled by one factor so it fits fit_height x fit_width and touches one of
    its sides, rounded to whole pixels (so each axis keeps its own exact scale), then padded
    at the bottom/right to a multiple of ``multiple``.
    """
    scale = min(fit_height / height, fit_width / width)
    new_h = min(fit_height, max(1, round(height * scale)))
    new_w = min(fit_width, max(1, round(width * scale)))
    return InputGeometry(height, width, new_h / height, new_w / width,
                         -(-new_h // multiple) * multiple, -(-new_w // multiple) * multiple)


def gaussian_blur(pixels, sigma_y, sigma_x):
    """
    Blur (B, C, H, W) with a separable Gaussian, reflecting at the borders.

    Kernel size 2 * ceil(3 sigma) + 1 per axis (torchvision's rule, which transformers'
    OWLv2 processor uses before downscaling); a sigma of 0 leaves that axis alone.
    """
    channels = pixels.shape[1]
    for axis, sigma in ((2, sigma_y), (3, sigma_x)):
        if sigma <= 0:
            continue
        radius = int(np.ceil(3.0 * sigma))
        offsets = torch.arange(-radius, radius + 1, dtype=torch.float32, device=pixels.device)
        kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
        kernel = (kernel / kernel.sum()).to(pixels.dtype)
        if axis == 2:
            padded = F.pad(pixels, (0, 0, radius, radius), mode='reflect')
            weight = kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1)
        else:
            padded = F.pad(pixels, (radius, radius, 0, 0), mode='reflect')
            weight = kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1)
        pixels = F.conv2d(padded, weight, groups=channels)
    return pixels
