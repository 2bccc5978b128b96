# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""ROS domains of one's own, and the transport profile for camera frames."""

import os
import uuid
import xml.etree.ElementTree as ElementTree

import pytest
from vlm_perception.local_graph import claim_ros_domain, large_frame_transport, PROFILE_VARIABLES

PROFILES = '{http://www.eprosima.com/XMLSchemas/fastRTPS_Profiles}'


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


def test_fast_dds_gets_the_installed_profile_with_a_16_mb_segment():
    pytest.importorskip('ament_index_python')
    env, description = large_frame_transport(environ={})
    assert set(env) == set(PROFILE_VARIABLES) and '16 MB' in description
    path = env['FASTDDS_DEFAULT_PROFILES_FILE']
    assert os.path.isfile(path)
    sizes = [int(e.text) for e in ElementTree.parse(path).iter(f'{PROFILES}segment_size')]
    assert sizes == [16 * 1024 * 1024]


def test_a_profile_of_the_callers_or_another_rmw_is_left_alone():
    env, description = large_frame_transport(environ={'FASTDDS_DEFAULT_PROFILES_FILE': '/x.xml'})
    assert env == {} and '/x.xml' in description
    env, description = large_frame_transport(environ={'RMW_IMPLEMENTATION': 'rmw_cyclonedds_cpp'})
    assert env == {} and 'rmw_cyclonedds_cpp' in description
    assert large_frame_transport(environ={}, enabled=False)[0] == {}
