# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
Test-session setup shared by every test file.

Tests that start ROS processes must never see another test run's topics, so each
pytest session takes a ROS domain of its own (held by a file lock for the session)
and keeps discovery on this machine. Child processes inherit the environment.
"""

import fcntl
import os
import tempfile

import pytest

_DOMAIN_LOCK = None


def _claim_ros_domain():
    """Lock and return a ROS_DOMAIN_ID that no other test session on this machine holds."""
    global _DOMAIN_LOCK
    for domain in range(1 + os.getpid() % 100, 1 + os.getpid() % 100 + 100):
        domain = 1 + (domain - 1) % 100
        path = os.path.join(tempfile.gettempdir(), f'vlm_perception_test_domain_{domain}.lock')
        lock = open(path, 'w')
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            continue
        _DOMAIN_LOCK = lock
        return domain
    raise RuntimeError('every ROS domain 1..100 is held by another test session')


def pytest_configure(config):
    """Isolate this session's ROS graph before any test imports rclpy."""
    os.environ['ROS_DOMAIN_ID'] = str(_claim_ros_domain())
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
