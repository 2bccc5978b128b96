# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0

from ament_pep257.main import main
import pytest


@pytest.mark.linter
@pytest.mark.pep257
def test_pep257():
    rc = main(argv=['vlm_perception', 'test', 'launch', 'setup.py'])
    assert rc == 0, 'Found code style errors / warnings'
