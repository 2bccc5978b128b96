# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0

from ament_flake8.main import main_with_errors
import pytest


@pytest.mark.flake8
@pytest.mark.linter
def test_flake8():
    rc, errors = main_with_errors(argv=['vlm_perception', 'test', 'launch', 'setup.py'])
    assert rc == 0, 'Found %d code style errors / warnings:\n' % len(errors) + '\n'.join(errors)
