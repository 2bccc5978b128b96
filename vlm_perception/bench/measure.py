# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
The six measurements for one model, in the order that shares the most set-up.

The model alone runs interleaved with the ROS round trips and with the ~/detect round
trips (same frame, same command, same settings as the node); the overload run reuses
the node; the text cache and the transformers comparison run in this process afterwards.
"""

import numpy as np

from .graph import BenchGraph
from .inprocess import model_alone_side, text_cache_sides, TransformersComparison
from .report import agreement_line, busy_processes
from .stats import interleave, ratio, summarise, summarise_all


def _model_settings(settings):
    """Return the node's detector settings as load_model takes them."""
    node = settings['node_parameters']
    threshold = node['score_threshold']
    return {'score_threshold': None if threshold < 0 else threshold,  # < 0: the model's own
            'nms_iou': node['nms_iou'], 'max_detections': node['max_detections'],
            'text_cache_size': node['text_cache_size']}


def _median(summary):
    return None if not summary else summary.get('median_ms')


def measure_model(model, settings, workdir, say, transport_env=None):
    """
    Run the chosen measurements on ``model`` (a BenchModel); return its report entry.

    transport_env: environment variables that configure DDS for the graph's processes.
    """
    from vlm_perception.model import load_model

    from .camera import bench_frame

    sections = settings['sections']
    repetitions, warmup = settings['repetitions'], settings['warmup']
    rgb = bench_frame(settings['width'], settings['height'])
    # The camera sends bgr8 and the node hands the model a view of it: do the same.
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    queries = settings['queries']
    detector = load_model(model.folder, device=settings['device'],
                          precision=settings['precision'], **_model_settings(settings))
    detector.exact_timings = True
    entry = {'folder': model.folder, 'description': model.description,
             'backend': detector.backend, 'device': str(detector.device),
             'dtype': str(detector.dtype).replace('torch.', ''),
             'precision': settings['precision'], 'busy_processes': busy_processes()}
    alone = model_alone_side(detector, bgr, queries, 'bgr')

    def progress(label):
        step = max(1, repetitions // 5)
        return lambda done: done % step == 0 and say(f'{model.key}: {label} {done}/{repetitions}')

    if ('model' in sections or 'overload' in sections) and 'ros' not in sections:
        say(f'{model.key}: model alone')
        entry['model_alone'] = summarise_all(
            interleave({'model': alone}, repetitions, warmup, progress('model alone')))['model']
    if 'ros' in sections or 'overload' in sections or 'service' in sections:
        parameters = dict(settings['node_parameters'], model=model.folder,
                          device=settings['device'], precision=settings['precision'],
                          diagnostics_period=0.5)
        say(f'{model.key}: starting vlm_perception_node and the camera')
        with BenchGraph(parameters, (settings['width'], settings['height']),
                        settings['command'], workdir, threads=settings['threads'],
                        transport_env=transport_env) as graph:
            if 'ros' in sections:
                entry.update(_through_ros(graph, alone, repetitions, warmup,
                                          progress('model alone + through ROS')))
            if 'service' in sections:
                entry['service'] = _through_service(graph, alone, bgr, settings['command'],
                                                    repetitions, warmup,
                                                    progress('model alone + ~/detect'))
            if 'overload' in sections:
                say(f'{model.key}: overload, {settings["overload_rate_hz"]:g} Hz for '
                    f'{settings["overload_seconds"]:g} s')
                entry['overload'] = _overload(graph, entry['model_alone'], settings)
    if 'text_cache' in sections:
        say(f'{model.key}: text cache on / off')
        samples = interleave(text_cache_sides(detector, bgr, queries, 'bgr'), repetitions,
                             warmup, progress('text cache'))
        cache = {side: summarise(samples[side]['infer']) for side in samples}
        cache['text_on'] = summarise(samples['cache_on']['text'])
        cache['text_off'] = summarise(samples['cache_off']['text'])
        cache['speedup'] = ratio(_median(cache['cache_off']), _median(cache['cache_on']))
        entry['text_cache'] = cache
    if 'transformers' in sections:
        if model.kind != 'owlvit':
            entry['transformers'] = {
                'skipped': 'the native model has no transformers implementation'}
        else:
            say(f'{model.key}: against transformers '
                f'({", ".join(settings["compare_precisions"])})')
            entry['transformers'] = _against_transformers(
                model, rgb, settings, progress('transformers comparison'))
    return entry


def _through_ros(graph, alone, repetitions, warmup, progress):
    """Model alone and ROS round trips, interleaved; the node's stage breakdown."""
    # Long enough for a slow frame; short, since a lost frame costs this much.
    timeout = max(5.0, 10.0 * alone()['infer'])
    samples = interleave({'model': alone, 'ros': lambda: graph.round_trip(timeout)},
                         repetitions, warmup, progress)
    stages, values = graph.stage_medians_ms()
    model_alone = summarise_all(samples)['model']
    end_to_end = summarise(samples['ros']['end_to_end'])
    stages_sum = round(sum(stages.values()), 3)
    e2e_ms = end_to_end['median_ms']
    node_ms = _float(values.get('latency_median_ms'))
    return {
        'model_alone': model_alone,
        'ros': {
            'end_to_end': end_to_end,
            'end_to_end_fps': round(1e3 / e2e_ms, 3) if e2e_ms else None,
            'over_forward': ratio(e2e_ms, _median(model_alone.get('forward'))),
            'over_infer': ratio(e2e_ms, _median(model_alone.get('infer'))),
            # The same model can run 10-20 % faster or slower in one process than in another
            # (measured here); against the forward inside the node that variance is gone.
            'over_node_forward': ratio(e2e_ms, stages.get('forward')),
            'node_stage_medians_ms': stages,
            'node_stages_sum_ms': stages_sum,
            # The node's own latency: from the executor's hand-over to published.
            'node_latency_median_ms': node_ms,
            # Medians of different windows, so approximate: what the node adds around its
            # stages (waking the worker), and what lies outside the node (DDS both ways,
            # the executors delivering the messages).
            'node_handoff_ms': round(node_ms - stages_sum, 3) if node_ms else None,
            'outside_node_ms': round(e2e_ms - node_ms, 3) if e2e_ms and node_ms else None,
            'frames_lost_and_resent': int(sum(samples['ros']['lost'])),
        },
    }


def _through_service(graph, alone, bgr, command, repetitions, warmup, progress):
    """Model alone and ~/detect round trips on the same frame, interleaved."""
    from vlm_perception.conversion import array_to_image

    request_image = array_to_image(bgr, 'bgr8')  # packed once, as the camera's frame is
    timeout = max(5.0, 10.0 * alone()['infer'])
    samples = interleave(
        {'model': alone,
         'service': lambda: {'round_trip': graph.detect_round_trip(command, request_image,
                                                                   timeout)}},
        repetitions, warmup, progress)
    model_alone = summarise_all(samples)['model']
    round_trip = summarise(samples['service']['round_trip'])
    # Requests count in the node's stage medians too: against the forward inside the
    # node, the variance between processes is gone (see _through_ros).
    stages, _ = graph.stage_medians_ms()
    return {
        'round_trip': round_trip,
        'model_alone': model_alone,
        'over_infer': ratio(round_trip['median_ms'], _median(model_alone.get('infer'))),
        'over_forward': ratio(round_trip['median_ms'], _median(model_alone.get('forward'))),
        'over_node_forward': ratio(round_trip['median_ms'], stages.get('forward')),
        'node_stage_medians_ms': stages,
    }


def _overload(graph, model_alone, settings):
    """Run the overload; add latency p95 over the model's own period (infer median)."""
    period_ms = _median(model_alone.get('infer'))
    found = graph.overload(settings['overload_rate_hz'], settings['overload_seconds'],
                           period_ms * 1e-3)
    found['model_period_ms'] = period_ms
    found['model_rate_hz'] = round(1e3 / period_ms, 3)
    found['overloaded'] = found['model_rate_hz'] < settings['overload_rate_hz']
    found['latency_p95_over_period'] = ratio(found['latency']['p95_ms'], period_ms)
    return found


def _against_transformers(model, rgb, settings, progress):
    """Per-frame time of ours and transformers' paths, interleaved; speed-ups; agreement."""
    comparison = TransformersComparison(
        model.folder, rgb, settings['queries'], settings['transformers_threshold'],
        settings['device'], settings['compare_precisions'])
    samples = interleave(comparison.sides(), settings['repetitions'], settings['warmup'],
                         progress)
    frame = {side: summarise(measures['frame']) for side, measures in samples.items()}
    speedups = {}
    for precision in comparison.ours:
        ours = _median(frame[f'ours_{precision}'])
        for reference in ('transformers_fp32', f'transformers_{precision}'):
            if reference in frame:
                speedups[f'ours_{precision} vs {reference}'] = ratio(_median(frame[reference]),
                                                                     ours)
    speedups['ours_fp32 vs transformers_pipeline_fp32'] = ratio(
        _median(frame['transformers_pipeline_fp32']), _median(frame['ours_fp32']))
    agreement = comparison.agreement()
    fastest = min(comparison.ours, key=lambda p: _median(frame[f'ours_{p}']))
    found = agreement[f'ours_{fastest} vs transformers_fp32']
    return {
        'threshold': settings['transformers_threshold'],
        'note': 'ours: nms off, no detection limit, text embeddings cached (a held command); '
                'transformers: processor + model + post_process_grounded_object_detection '
                'as documented (text encoded every frame); pipeline: '
                'pipeline("zero-shot-object-detection"), which runs the model once per query',
        'frame': frame,
        'speedups': speedups,
        'agreement': agreement,
        'best': {
            'precision': fastest,
            'speedup': speedups[f'ours_{fastest} vs transformers_fp32'],
            'label': agreement_line(f'ours {fastest} vs transformers fp32', found),
        },
    }


def _float(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None
