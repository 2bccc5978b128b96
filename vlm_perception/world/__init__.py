# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
A procedural tabletop world: coloured shapes with exact boxes, and how people ask for them.

``SceneGenerator(seed).generate()`` gives a :class:`Scene` (image and objects, and in
3D the camera, the sensor's and the true depth, and each object's true position);
``Scene.referred(phrase)`` says which objects a query phrase means;
``make_phrase`` says a target the way people do. No ROS in here.
"""

from vlm_perception.world.commands import make_phrase, parse_phrase, Target
from vlm_perception.world.depth_sensor import DepthSensor
from vlm_perception.world.scene import DEFAULT_SIZES, Scene, SceneGenerator, SceneObject
from vlm_perception.world.view import TableView
from vlm_perception.world.vocabulary import all_pairs, COLOURS, HELD_OUT_PAIRS, pair_name, SHAPES

__all__ = [
    'COLOURS', 'DEFAULT_SIZES', 'DepthSensor', 'HELD_OUT_PAIRS', 'SHAPES', 'Scene',
    'SceneGenerator', 'SceneObject', 'TableView', 'Target', 'all_pairs', 'make_phrase',
    'pair_name', 'parse_phrase',
]
