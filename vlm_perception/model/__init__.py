# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
The vision-language model: the native detector, pretrained OWL backends and one interface.

``load_model`` returns a :class:`Detector` for any backend; ``VLMForDetection`` (config
``VLMConfig``, tokenizer ``VLMTokenizer``) is the native model for training. Nothing here
imports ROS.
"""

from .errors import ModelLoadError
from .image import InputGeometry
from .native import VLMConfig, VLMDetectionOutput, VLMForDetection
from .tokenizer import VLMTokenizer

__all__ = [
    'InputGeometry', 'ModelLoadError', 'VLMConfig', 'VLMDetectionOutput', 'VLMForDetection',
    'VLMTokenizer',
]
