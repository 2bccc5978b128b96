# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""Vision-language perception for ROS 2: a model, its command line and a node."""

from pkgutil import extend_path

# The generated message module (vlm_perception.msg) lives only in the colcon
# install tree. When this source folder comes first on sys.path (running from the
# repository root), extend the package path so `vlm_perception.msg` still imports.
__path__ = extend_path(__path__, __name__)

__version__ = '0.1.0'
