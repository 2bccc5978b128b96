# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
``vlm-perception bench --quick``, run for real: every measurement, both models, the JSON.

The quick path measures tiny stand-in models, so its numbers mean nothing; these tests
check that every code path runs (a real node process, camera process and listener) and
that the report has every key with a sane value. No timing assertions.
"""

import json
import math
import subprocess
import sys

import pytest

pytest.importorskip('vlm_perception.msg')
pytestmark = pytest.mark.ros
from vlm_perception.node import STAGES  # noqa: E402

HEADLINE = ('ros_over_model', 'speedup_vs_transformers', 'text_cache_speedup',
            'service_over_model', 'overload_latency_p95_over_period', 'depth_stage_median_ms',
            'speedup_openvino_int8_vs_torch_fp32', 'speedup_onnxruntime_int8_vs_torch_fp32',
            'ros_over_openvino', 'overload_rss_growth_mb')   # the last may be 0 or negative
BOX_TARGETS = ('box_p95_px_openvino_int8', 'box_p95_px_onnxruntime_int8')
REPETITIONS = 3


@pytest.fixture(scope='module')
def bench(tmp_path_factory):
    """Run the quick benchmark once; return (report dict, printed table)."""
    path = tmp_path_factory.mktemp('bench') / 'bench.json'
    done = subprocess.run(
        [sys.executable, '-m', 'vlm_perception.cli', 'bench', '--quick', '--json', str(path),
         '--repetitions', str(REPETITIONS), '--overload-seconds', '2'],
        capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return json.loads(path.read_text()), done.stdout


def positive(value):
    return isinstance(value, float) and math.isfinite(value) and value > 0


def test_headline_numbers_are_present_and_sane(bench):
    report, _ = bench
    assert report['headline_model'] == 'owlvit_tiny'
    for key in HEADLINE[:-1]:
        assert positive(report[key]), (key, report[key])
    assert math.isfinite(report['overload_rss_growth_mb'])
    assert abs(report['overload_rss_growth_mb']) < 1000
    assert positive(report['speedup_vs_transformers_best'])
    assert positive(report['speedup_vs_transformers_processor'])
    assert positive(report['ros_over_node_forward'])
    assert positive(report['service_over_node_forward'])
    assert positive(report['depth_on_over_off'])
    stage = report['depth_stage']
    assert stage['detections'] == 20 and stage['frame'] == '640x480' and stage['n'] >= 50
    assert stage['median_located'] >= 15   # most of the 20 boxes hold usable depth
    for key in BOX_TARGETS:
        assert report[key] >= 0, (key, report[key])
    assert set(report['targets']) == set(HEADLINE + BOX_TARGETS) - {'text_cache_speedup'}
    assert all(item['met'] in (True, False) for item in report['targets'].values())


def test_machine_and_settings_are_recorded(bench):
    report, _ = bench
    machine = report['machine']
    assert machine['cpu'] and machine['logical_cores'] >= 1 and machine['torch']
    assert machine['device'] == 'cpu'
    settings = report['settings']
    assert settings['quick'] and settings['repetitions'] == REPETITIONS
    assert (settings['width'], settings['height']) == (640, 480)
    assert settings['queries'] == ['red circle', 'blue square', 'green triangle']
    assert settings['transport']


@pytest.mark.parametrize('key', ['default', 'owlvit_tiny'])
def test_every_measurement_ran_for_each_model(bench, key):
    entry = bench[0]['models'][key]
    for stage in ('infer', 'preprocess', 'text', 'forward', 'postprocess'):
        assert entry['model_alone'][stage]['n'] == REPETITIONS
        assert entry['model_alone'][stage]['median_ms'] >= 0
    ros = entry['ros']
    assert ros['end_to_end']['n'] == REPETITIONS and ros['end_to_end']['median_ms'] > 0
    assert set(ros['node_stage_medians_ms']) == set(STAGES) - {'depth'}  # depth: use_depth
    assert ros['over_forward'] > 0 and ros['over_infer'] > 0 and ros['over_node_forward'] > 0
    service = entry['service']
    assert service['round_trip']['n'] == service['model_alone']['infer']['n'] == REPETITIONS
    assert service['round_trip']['median_ms'] > 0
    assert service['over_infer'] > 0 and service['over_forward'] > 0
    assert service['over_node_forward'] > 0
    depth = entry['depth']
    assert depth['end_to_end_off']['n'] == depth['end_to_end_on']['n'] == REPETITIONS
    assert depth['on_over_off'] > 0 and depth['node_depth_median_ms'] > 0
    # A best-effort depth frame may be lost under load; most frames must have theirs.
    assert depth['frames_without_depth'] < REPETITIONS
    assert set(depth['node_stage_medians_ms']) == set(STAGES)
    cache = entry['text_cache']
    assert cache['cache_on']['n'] == cache['cache_off']['n'] == REPETITIONS
    assert cache['speedup'] > 0
    overload = entry['overload']
    assert overload['frames_sent'] > 0 and overload['results'] > 0
    assert overload['node_frames_processed'] <= overload['node_frames_received'] \
        <= overload['frames_sent']
    assert overload['latency']['n'] == overload['results']
    assert overload['latency']['max_ms'] >= overload['latency']['p95_ms'] > 0
    assert overload['rss_start_mb'] > 0 and overload['rss_end_mb'] > 0
    assert overload['memory_samples'] > 0 and math.isfinite(overload['rss_anon_growth_mb'])
    assert overload['latency_p95_over_period'] > 0


@pytest.mark.parametrize('key', ['default', 'owlvit_tiny'])
def test_exported_runtimes_ran_against_torch_for_each_model(bench, key):
    runtimes = bench[0]['models'][key]['runtimes']
    assert runtimes['torch_fp32']['forward']['n'] == REPETITIONS
    assert set(runtimes['variants']) == {'openvino_int8', 'onnxruntime_int8'}
    for name, variant in runtimes['variants'].items():
        assert variant['runtime'] == name.split('_')[0] and variant['precision'] == 'int8'
        assert variant['timings']['forward']['n'] == REPETITIONS
        assert variant['speedup_forward'] > 0 and variant['speedup_infer'] > 0
        found = variant['agreement_with_torch_fp32_cpu']
        assert 0 <= found['matched'] <= found['reference']
    ros = runtimes['ros_openvino_int8']['ros']
    assert ros['end_to_end']['n'] == REPETITIONS and ros['over_forward'] > 0
    if key == 'default':
        assert bench[0]['shipped_speedup_openvino_int8_vs_torch_fp32'] > 0


def test_transformers_comparison_finds_the_same_boxes(bench):
    models = bench[0]['models']
    assert 'skipped' in models['default']['transformers']
    comparison = models['owlvit_tiny']['transformers']
    for side in ('ours_fp32', 'ours_bf16', 'ours_int8', 'transformers_fp32',
                 'transformers_bf16', 'transformers_pipeline_fp32'):
        assert comparison['frame'][side]['n'] == REPETITIONS
    same = comparison['agreement']['ours_fp32 vs transformers_fp32']
    assert same['theirs'] > 0 and same['same_detections'], same
    # The pipeline scores each query alone, so it lists more boxes; ours are all there.
    pipeline = comparison['agreement']['ours_fp32 vs transformers_pipeline_fp32']
    assert pipeline['ours_not_in_theirs'] == 0, pipeline
    assert comparison['best']['precision'] in ('fp32', 'bf16', 'int8')


def test_transport_costs_and_every_transport_through_ros(bench):
    transport = bench[0]['transport']
    for name in ('raw_conversion', 'jpeg_decode', 'jpeg_encode', 'depth_png_decode',
                 'depth_rvl_decode'):
        assert transport['decode'][name]['n'] >= REPETITIONS
        assert transport['decode'][name]['median_ms'] > 0
    assert transport['sizes']['jpeg_bytes'] < transport['sizes']['raw_bytes'] == 640 * 480 * 3
    cases = transport['cases']
    assert set(cases) == {'raw_default_dds', 'raw_large_frame_profile', 'compressed_default_dds'}
    for name, found in cases.items():
        assert found['frames_sent'] > 0 and found['dds'], name
        assert 0 <= found['frames_received'] <= found['frames_sent'], name
        assert found['frames_lost_in_transport'] >= 0, name  # Fast DDS reports them
    for name in ('raw_large_frame_profile', 'compressed_default_dds'):
        assert cases[name]['frames_received'] > 0, name
        assert cases[name]['end_to_end']['n'] == REPETITIONS, name
        assert cases[name]['end_to_end']['median_ms'] > 0, name
    assert positive(transport['compressed_over_raw_latency'])


def test_the_table_is_printed(bench):
    _, table = bench
    for text in ('owlvit_tiny', 'default', 'through ROS: end to end',
                 'through ~/detect: round trip', 'through ROS, use_depth on',
                 '3D from depth alone', *HEADLINE, 'jpeg_decode',
                 'compressed / raw end-to-end latency'):
        assert text in table
