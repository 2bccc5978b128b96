# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
Test-session setup shared by every test file.

Tests that start ROS processes must never see another test run's topics, so each
pytest session takes a ROS domain of its own (held by a file lock for the session)
and keeps discovery on this machine. Child processes inherit the environment.
"""

import os

import pytest
from vlm_perception.local_graph import claim_ros_domain

# Held for the whole session; the domain is ours while this file stays open.
_DOMAIN_LOCK = None


def pytest_configure(config):
    """Isolate this session's ROS graph before any test imports rclpy."""
    global _DOMAIN_LOCK
    # Domains 1..100 are the tests' (the benchmark takes 101 and up).
    domain, _DOMAIN_LOCK = claim_ros_domain(range(1, 101), 'vlm_perception_test_domain')
    os.environ['ROS_DOMAIN_ID'] = str(domain)
    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    os.environ.pop('ROS_STATIC_PEERS', None)
    # No test may reach a model hub.
    os.environ['HF_HUB_OFFLINE'] = '1'
    os.environ['TRANSFORMERS_OFFLINE'] = '1'


@pytest.fixture
def ros_context():
    """Yield an initialised rclpy context of the test's own, shut down afterwards."""
    import rclpy
    from rclpy.context import Context

    context = Context()
    rclpy.init(context=context)
    try:
        yield context
    finally:
        rclpy.shutdown(context=context)
