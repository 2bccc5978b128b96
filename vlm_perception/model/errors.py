# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""Errors raised by the model package."""


class ModelLoadError(RuntimeError):
    """A model could not be loaded; the message names the path or id and the reason."""
