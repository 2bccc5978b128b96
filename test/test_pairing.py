# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests of vlm_perception.pairing: command parsing, frame pairing, the slot, the stats."""

import sys
import threading

import pytest

from vlm_perception.pairing import (
    FramePairing, LatencyWindow, LatestSlot, parse_command, RateMeter, SYNC_POLICIES)

# How long a test waits for a thread before calling it stuck; never a timing assertion.
STUCK = 10.0


def queries_of(text, max_queries=8, max_query_chars=40):
    return parse_command(text, max_queries, max_query_chars).queries


def test_parse_splits_on_commas_and_semicolons_and_tidies():
    parsed = parse_command('  red cup, blue   ball ;green\tcube\n', 8, 40)
    assert parsed.queries == ['red cup', 'blue ball', 'green cube']
    assert parsed.cut == ''


@pytest.mark.parametrize('text', ['', '   ', '\n\t', ',', ' ; , ;; ,'])
def test_parse_empty_and_blank_commands_give_no_queries(text):
    assert parse_command(text, 8, 40) == ([], '')


def test_parse_drops_repeats_keeping_first_place():
    assert queries_of('mug, plate, mug , plate;fork') == ['mug', 'plate', 'fork']
    assert queries_of('Mug, mug') == ['Mug', 'mug']  # case is the model's business


def test_parse_bounds_the_count_and_says_so():
    parsed = parse_command('a, b, a, c, d, e', 3, 40)
    assert parsed.queries == ['a', 'b', 'c']
    assert 'kept the first 3 queries, dropped 2 more' in parsed.cut


def test_parse_bounds_the_length_and_says_so():
    parsed = parse_command('a very long description of a cup, short', 8, 10)
    assert parsed.queries == ['a very lon', 'short']
    assert 'cut 1 phrase(s) to 10 characters' in parsed.cut
    # Two phrases equal after cutting count once.
    assert queries_of('abcdefgh1, abcdefgh2', 8, 8) == ['abcdefgh']


@pytest.mark.parametrize('text', [
    'x' * 10_000,
    ',' * 10_000,
    'a,' * 5_000,
    ''.join(f'{i},' for i in range(3_000))[:10_000],
    ' ' * 9_999 + 'y',
])
def test_parse_ten_thousand_characters_stays_bounded(text):
    parsed = parse_command(text, 16, 200)
    assert len(parsed.queries) <= 16
    assert all(0 < len(query) <= 200 for query in parsed.queries)
    assert len(set(parsed.queries)) == len(parsed.queries)


def test_parse_ten_thousand_character_phrase_reports_the_cut():
    parsed = parse_command('x' * 10_000, 16, 200)
    assert parsed.queries == ['x' * 200]
    assert '200 characters' in parsed.cut


def test_parse_non_ascii():
    parsed = parse_command('rote Tasse, 赤いカップ，青いボール；緑の箱、tasse à café', 8, 40)
    assert parsed.queries == ['rote Tasse', '赤いカップ', '青いボール', '緑の箱', 'tasse à café']
    assert queries_of('ééééé', 8, 3) == ['ééé']  # characters, not bytes


@pytest.mark.parametrize('limits', [(0, 10), (10, 0), (-1, -1)])
def test_parse_refuses_nonsense_limits(limits):
    with pytest.raises(ValueError):
        parse_command('a', *limits)


def test_latest_processes_every_frame_with_the_command_in_force():
    pairing = FramePairing('latest', sync_slop=0.1)
    assert pairing.on_frame('f0', 1.0, 1.0).status == 'idle'
    assert pairing.on_command('cup, ball', ('cup', 'ball'), 1.05).status == 'set'
    assert pairing.command == ('cup, ball', ('cup', 'ball'))
    for index in range(3):
        step = pairing.on_frame(f'f{index + 1}', 1.1 + index, 1.1 + index)
        assert step.status == 'process'
        assert step.job == (f'f{index + 1}', 1.1 + index, 'cup, ball', ('cup', 'ball'))
    pairing.on_command('plate', ['plate'], 5.0)
    assert pairing.on_frame('f9', 5.1, 5.1).job.queries == ('plate',)


def test_latest_empty_command_clears_until_the_next():
    pairing = FramePairing('latest')
    pairing.on_command('cup', ['cup'], 0.0)
    step = pairing.on_command('   ', parse_command('   ', 8, 40).queries, 1.0)
    assert step.status == 'cleared' and 'no inference' in step.note
    assert pairing.command is None
    assert pairing.on_frame('f', 1.1, 1.1) == ('idle', None, '')
    pairing.on_command('ball', ['ball'], 2.0)
    assert pairing.on_frame('g', 2.1, 2.1).job.frame == 'g'


def test_on_command_answers_once_with_the_nearest_buffered_frame():
    pairing = FramePairing('on_command', sync_slop=0.05)
    for stamp in (0.90, 0.97, 1.02):
        assert pairing.on_frame(f'f{stamp}', stamp, stamp).status == 'idle'
    step = pairing.on_command('cup', ['cup'], 1.00)
    assert step.status == 'process'
    assert step.job == ('f1.02', 1.02, 'cup', ('cup',))
    assert not pairing.pending
    assert pairing.on_frame('later', 1.03, 1.03).status == 'idle'
    assert pairing.on_frame('later', 1.06, 1.06).status == 'idle'


def test_on_command_waits_for_a_later_frame_within_the_slop():
    pairing = FramePairing('on_command', sync_slop=0.1)
    pairing.on_frame('old', 0.0, 0.0)
    step = pairing.on_command('cup', ['cup'], 1.0)
    assert step.status == 'waiting' and '0.100 s' in step.note
    assert pairing.pending
    assert pairing.poll(1.05).status == 'waiting'
    # A late-delivered old frame does not qualify, but the wait goes on.
    assert pairing.on_frame('stale', 0.5, 1.06).status == 'waiting'
    step = pairing.on_frame('new', 1.08, 1.09)
    assert step.status == 'process' and step.job.frame == 'new'
    assert pairing.on_frame('next', 1.12, 1.12).status == 'idle'


def test_on_command_takes_a_frame_delivered_after_the_slop_if_stamped_within():
    pairing = FramePairing('on_command', sync_slop=0.05)
    pairing.on_command('cup', ['cup'], 1.0)
    step = pairing.on_frame('slow transport', 1.03, 1.2)
    assert step.status == 'process'


def test_on_command_gives_up_on_a_frame_past_the_slop():
    pairing = FramePairing('on_command', sync_slop=0.05)
    pairing.on_command('cup', ['cup'], 1.0)
    step = pairing.on_frame('too late', 1.2, 1.2)
    assert step.status == 'expired' and "'cup'" in step.note
    assert not pairing.pending
    assert pairing.on_frame('after', 1.3, 1.3).status == 'idle'


def test_on_command_gives_up_by_the_clock_and_on_a_clock_jump_back():
    pairing = FramePairing('on_command', sync_slop=0.05)
    pairing.on_command('cup', ['cup'], 1.0)
    assert pairing.poll(1.04).status == 'waiting'
    assert pairing.poll(1.06).status == 'expired'
    assert pairing.poll(1.07).status == 'idle'
    pairing.on_command('x' * 500, ['x'], 10.0)
    step = pairing.poll(2.0)  # simulated time restarted
    assert step.status == 'expired' and '...' in step.note and len(step.note) < 200


def test_on_command_unstamped_frames_count_at_arrival():
    pairing = FramePairing('on_command', sync_slop=0.05)
    pairing.on_frame('unstamped', 0.0, 3.0)
    step = pairing.on_command('cup', ['cup'], 3.01)
    assert step.status == 'process' and step.job.stamp == 3.0


def test_on_command_each_command_is_answered_and_empty_cancels():
    pairing = FramePairing('on_command', sync_slop=0.1)
    pairing.on_frame('f', 1.0, 1.0)
    assert pairing.on_command('cup', ['cup'], 1.01).job.frame == 'f'
    assert pairing.on_command('cup', ['cup'], 1.02).job.frame == 'f'  # a repeat is a new ask
    pairing.on_command('ball', ['ball'], 5.0)
    assert pairing.pending
    assert pairing.on_command('', [], 5.01).status == 'cleared'
    assert not pairing.pending
    assert pairing.on_frame('g', 5.02, 5.02).status == 'idle'


def test_on_command_buffer_is_short_and_forgets_old_frames():
    pairing = FramePairing('on_command', sync_slop=1.0, buffer_size=2)
    for stamp in (0.0, 0.01, 0.02):
        pairing.on_frame(stamp, stamp, 0.02)
    assert pairing.on_command('cup', ['cup'], 0.0).job.frame == 0.01  # 0.0 fell out
    assert pairing.buffered == 2
    pairing = FramePairing('on_command', sync_slop=0.1, buffer_size=8)
    pairing.on_frame('old', 0.0, 0.0)
    pairing.on_frame('new', 5.0, 5.0)  # 'old' can no longer be near any command
    assert pairing.buffered == 1
    pairing.policy = 'latest'  # frames are buffered for on_command only
    pairing.on_frame('newer', 6.0, 6.0)
    assert pairing.buffered == 0


def test_policy_and_slop_change_at_run_time():
    pairing = FramePairing('on_command', sync_slop=0.05)
    pairing.on_command('cup', ['cup'], 1.0)
    assert pairing.pending
    pairing.policy = 'latest'  # the pending answer is dropped; the command stays in force
    assert not pairing.pending
    assert pairing.on_frame('f', 2.0, 2.0).job.command == 'cup'
    pairing.policy = 'on_command'  # no answer until the next command
    assert pairing.on_frame('g', 3.0, 3.0).status == 'idle'
    pairing.sync_slop = 0.6
    assert pairing.sync_slop == 0.6
    assert pairing.on_command('ball', ['ball'], 3.5).job.frame == 'g'
    pairing.sync_slop = 0.05
    assert pairing.on_command('mug', ['mug'], 4.0).status == 'waiting'
    pairing.sync_slop = 2.0  # a pending command waits by the new slop
    assert pairing.poll(4.5).status == 'waiting'
    assert pairing.poll(6.5).status == 'expired'
    assert pairing.policy == 'on_command' and SYNC_POLICIES == ('latest', 'on_command')


@pytest.mark.parametrize('policy', ['newest', 'Latest', '', None])
def test_bad_policy_is_refused_and_nothing_changes(policy):
    with pytest.raises(ValueError, match='sync_policy must be one of'):
        FramePairing(policy)
    pairing = FramePairing('on_command')
    with pytest.raises(ValueError):
        pairing.policy = policy
    assert pairing.policy == 'on_command'


@pytest.mark.parametrize('slop', [-0.1, float('nan'), float('inf'), 'soon'])
def test_bad_slop_is_refused_and_nothing_changes(slop):
    with pytest.raises(ValueError):
        FramePairing('latest', slop)
    pairing = FramePairing('latest', 0.2)
    with pytest.raises(ValueError):
        pairing.sync_slop = slop
    assert pairing.sync_slop == 0.2
    with pytest.raises(ValueError):
        FramePairing(buffer_size=0)


def test_pairing_answers_each_command_exactly_once_under_concurrent_frames():
    pairing = FramePairing('on_command', sync_slop=100.0)
    pairing.on_frame('first', 1.0, 1.0)
    jobs, errors, lock, done = [], [], threading.Lock(), threading.Event()

    def frames():
        index = 0
        while not done.is_set():
            index += 1
            try:
                step = pairing.on_frame(index, 1.0 + index * 1e-4, 1.0 + index * 1e-4)
            except Exception as error:  # reported below, so a failure cannot hide here
                errors.append(error)
                return
            if step.job is not None:
                with lock:
                    jobs.append(step.job)

    thread = threading.Thread(target=frames)
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # many thread switches, so a missing lock shows
    thread.start()
    try:
        for index in range(3000):
            step = pairing.on_command(f'c{index}', [f'c{index}'], 1.0)
            if step.job is not None:
                with lock:
                    jobs.append(step.job)
    finally:
        done.set()
        thread.join(STUCK)
        sys.setswitchinterval(switch_interval)
    assert not thread.is_alive() and errors == []
    assert sorted(job.command for job in jobs) == sorted(f'c{index}' for index in range(3000))


def test_slot_keeps_only_the_newest_and_counts_drops():
    slot = LatestSlot()
    assert slot.take(timeout=0) is None
    assert slot.put('a') is False
    assert slot.put('b') is True
    assert slot.put('c') is True
    assert (slot.put_count, slot.dropped) == (3, 2)
    assert slot.take(timeout=0) == 'c'
    assert slot.take(timeout=0.01) is None
    slot.put(None)  # even None is an item
    assert slot.dropped == 2


def test_slot_take_blocks_until_a_put_from_another_thread():
    slot = LatestSlot()
    got = []
    worker = threading.Thread(target=lambda: got.append(slot.take()))
    worker.start()
    slot.put('frame')
    worker.join(STUCK)
    assert not worker.is_alive() and got == ['frame']


def test_slot_close_wakes_a_blocked_worker_and_refuses_items():
    slot = LatestSlot()
    waiting = threading.Event()
    got = []

    def worker():
        waiting.set()
        got.append(slot.take())

    thread = threading.Thread(target=worker)
    thread.start()
    waiting.wait(STUCK)
    slot.close()
    thread.join(STUCK)
    assert not thread.is_alive() and got == [None]
    assert slot.closed
    assert slot.put('late') is False
    assert slot.take(timeout=0) is None


def test_slot_producer_consumer_never_goes_backwards_and_loses_nothing_uncounted():
    slot = LatestSlot()
    total = 20_000
    received = []

    def consume():
        while True:
            item = slot.take(timeout=STUCK)
            if item is None:
                return
            received.append(item)
            if item == total - 1:
                return

    consumer = threading.Thread(target=consume)
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    consumer.start()
    try:
        for index in range(total):
            slot.put(index)
        consumer.join(STUCK)
    finally:
        sys.setswitchinterval(switch_interval)
    assert not consumer.is_alive()
    assert received[-1] == total - 1  # the newest always arrives
    assert all(a < b for a, b in zip(received, received[1:]))
    assert slot.put_count == total
    assert slot.dropped + len(received) == total


def test_rate_meter_over_a_window():
    meter = RateMeter(window=2.0)
    assert meter.rate(0.0) == 0.0
    for index in range(50):
        meter.tick(index * 0.1)   # 10 Hz for 5 s
    assert meter.rate(4.9) == pytest.approx(10.0)
    assert meter.total == 50
    assert meter.rate(6.0) == pytest.approx(9 / 2.0)  # 4.1 .. 4.9 still inside
    assert meter.rate(100.0) == 0.0
    young = RateMeter(window=5.0)
    young.tick(10.0)
    young.tick(10.5)
    assert young.rate(10.5) == pytest.approx(2 / 0.5)
    assert young.rate(11.0) == pytest.approx(2.0)  # only 1 s old: divided by 1 s
    with pytest.raises(ValueError):
        RateMeter(window=0)


def test_latency_window_median_and_p95():
    window = LatencyWindow(size=100)
    assert window.percentiles() == (None, None)
    for value in range(1, 101):
        window.add(value / 1000)
    median, p95 = window.percentiles()
    assert median == pytest.approx(0.0505) and p95 == pytest.approx(0.09505)
    for _ in range(100):
        window.add(1.0)
    assert len(window) == 100 and window.percentiles() == (1.0, 1.0)
