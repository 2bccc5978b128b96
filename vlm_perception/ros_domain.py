# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
A ROS_DOMAIN_ID of one's own, so graphs started by tests or benchmarks never cross.

Each domain is a lock file ``<lock_name>_<id>.lock`` in the temporary folder; whoever
holds its ``flock`` owns the domain until the file is closed or the process ends.
"""

import fcntl
import os
import tempfile


def claim_ros_domain(domains, lock_name):
    """
    Lock a ROS_DOMAIN_ID of ``domains`` (a range) that no other process holds.

    Returns (domain, lock): keep ``lock`` (an open file) for as long as the domain is
    used. Raises RuntimeError when every domain of the range is held.
    """
    for domain in domains:
        path = os.path.join(tempfile.gettempdir(), f'{lock_name}_{domain}.lock')
        lock = open(path, 'w')
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            continue
        return domain, lock
    raise RuntimeError(f'every ROS domain in {domains.start}..{domains.stop - 1} is held '
                       f'by another process ({lock_name})')
