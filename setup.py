# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
Pip entry for the plain Python library: the model, the world and the command line.

The ROS 2 package (message, node, launch files) is built by colcon from
CMakeLists.txt; this file serves people who use the model without ROS:
``pip install .`` then ``vlm-perception detect ...``. Metadata is in setup.cfg.
"""

from setuptools import setup

setup(
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/vlm_perception']),
        ('share/vlm_perception', ['package.xml']),
    ],
)
