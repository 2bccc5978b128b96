# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""Training and evaluation of the native model on the synthetic tabletop world (no ROS)."""
