# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""Two claimants never get the same ROS domain; a released domain can be taken again."""

import uuid

import pytest
from vlm_perception.ros_domain import claim_ros_domain


def test_claims_are_exclusive_and_released_on_close():
    name = f'vlm_perception_test_claim_{uuid.uuid4().hex}'
    first, first_lock = claim_ros_domain(range(7, 9), name)
    second, second_lock = claim_ros_domain(range(7, 9), name)
    assert (first, second) == (7, 8)
    with pytest.raises(RuntimeError, match='7..8'):
        claim_ros_domain(range(7, 9), name)
    first_lock.close()
    again, again_lock = claim_ros_domain(range(7, 9), name)
    assert again == 7
    second_lock.close()
    again_lock.close()
