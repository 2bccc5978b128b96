# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests of DepthPairing: each colour frame meets the depth frame nearest its stamp."""

import pytest

from vlm_perception.pairing import DepthPairing


def test_depth_already_here_pairs_at_once_with_the_nearest():
    pairing = DepthPairing(slop=0.05)
    for stamp in (0.90, 0.967, 1.0, 1.033):
        assert pairing.add_depth(f'depth {stamp}', stamp, now=stamp + 0.01) == []
    assert pairing.add_frame('colour', 1.004, now=1.05) == [('colour', 'depth 1.0')]
    assert pairing.waiting == 0


def test_frame_waits_for_a_depth_that_could_be_nearer():
    pairing = DepthPairing(slop=0.05)
    pairing.add_depth('early', 0.967, now=0.97)
    # Only an older depth is here: a later one may be nearer, so the frame waits.
    assert pairing.add_frame('colour', 1.0, now=1.001) == []
    assert pairing.waiting == 1
    assert pairing.poll(now=1.02) == []
    assert pairing.add_depth('exact', 1.0, now=1.03) == [('colour', 'exact')]
    assert pairing.waiting == 0


def test_frame_goes_on_after_the_slop_with_the_best_it_has():
    pairing = DepthPairing(slop=0.05)
    pairing.add_depth('early', 0.967, now=0.97)
    assert pairing.add_frame('colour', 1.0, now=1.0) == []
    assert pairing.poll(now=1.049) == []
    assert pairing.poll(now=1.05) == [('colour', 'early')]   # 33 ms off: within the slop


def test_frame_goes_on_without_depth_when_none_is_within_the_slop():
    pairing = DepthPairing(slop=0.05)
    pairing.add_depth('old', 0.5, now=0.5)
    assert pairing.add_frame('colour', 1.0, now=1.0) == []
    assert pairing.poll(now=1.06) == [('colour', None)]
    # A later depth far beyond the stamp decides at once, and is too far.
    assert pairing.add_frame('next', 2.0, now=2.0) == []
    assert pairing.add_depth('late', 2.2, now=2.2) == [('next', None)]


def test_no_depth_ever_means_every_frame_goes_on_without_it():
    pairing = DepthPairing(slop=0.05)
    assert pairing.add_frame('a', 1.0, now=1.0) == []
    assert pairing.poll(now=1.1) == [('a', None)]


def test_zero_slop_never_waits_and_needs_the_exact_stamp():
    pairing = DepthPairing(slop=0.0)
    pairing.add_depth('exact', 1.0, now=1.0)
    assert pairing.add_frame('a', 1.0, now=1.0) == [('a', 'exact')]
    assert pairing.add_frame('b', 1.1, now=1.1) == [('b', None)]


def test_waiting_frames_are_decided_in_order_and_bounded():
    pairing = DepthPairing(slop=0.05, max_waiting=2)
    assert pairing.add_frame('a', 1.0, now=1.0) == []
    assert pairing.add_frame('b', 1.033, now=1.033) == []
    # A third frame pushes the oldest on, as it is.
    assert pairing.add_frame('c', 1.066, now=1.04) == [('a', None)]
    assert pairing.waiting == 2
    assert pairing.add_depth('d1.066', 1.066, now=1.07) == [('b', 'd1.066'), ('c', 'd1.066')]


def test_depth_buffer_is_bounded_and_older_frames_still_find_theirs():
    pairing = DepthPairing(slop=0.02, capacity=5)
    for i in range(20):
        pairing.add_depth(i, i * 0.1, now=i * 0.1)
    # on_command may pick a buffered colour frame from a while ago.
    assert pairing.add_frame('recent', 1.6, now=2.0) == [('recent', 16)]
    assert pairing.add_frame('too old', 1.0, now=2.0) == [('too old', None)]  # let go


def test_depth_stamps_going_back_start_afresh():
    pairing = DepthPairing(slop=0.05)
    pairing.add_depth('before restart', 100.0, now=100.0)
    pairing.add_depth('after restart', 1.0, now=100.1)
    assert pairing.add_frame('colour', 1.0, now=100.1) == [('colour', 'after restart')]


def test_slop_is_validated_and_can_change():
    pairing = DepthPairing(slop=0.05)
    pairing.slop = 0.2
    assert pairing.slop == 0.2
    for bad in (-0.1, float('nan'), float('inf')):
        with pytest.raises(ValueError):
            pairing.slop = bad
    with pytest.raises(ValueError):
        DepthPairing(capacity=0)
