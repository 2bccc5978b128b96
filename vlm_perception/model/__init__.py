# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
The vision-language model: the native detector, pretrained OWL backends and one interface.

``load_model`` returns a :class:`Detector` for any backend; ``VLMForDetection`` (config
``VLMConfig``, tokenizer ``VLMTokenizer``) is the native model for training. Nothing here
imports ROS.
"""

from .detector import DEFAULT_MODEL_PATH, DetectionResult, Detector, load_model
from .detector import TextEmbeddingCache
from .errors import ModelLoadError
from .image import InputGeometry
from .native import VLMConfig, VLMDetectionOutput, VLMForDetection
from .tokenizer import VLMTokenizer

__all__ = [
    'DEFAULT_MODEL_PATH', 'DetectionResult', 'Detector', 'TextEmbeddingCache', 'load_model',
    'InputGeometry', 'ModelLoadError', 'VLMConfig', 'VLMDetectionOutput', 'VLMForDetection',
    'VLMTokenizer',
]
