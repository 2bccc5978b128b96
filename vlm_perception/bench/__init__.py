# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
``vlm-perception bench``: how fast the model, the node and transformers are, side by side.

For the default model and an OWL-ViT-B/32-sized model (random weights built here,
768 px input), on one 640x480 synthetic frame and a held command:

1. model alone: ``Detector.infer`` with the text already encoded (its stages timed);
2. through ROS: a camera process publishes the frame as bgr8, the installed node
   processes it, this process receives the MultimodalFeatures; end-to-end latency
   from the image stamp, interleaved with (1), and the node's own stage medians from
   its /diagnostics;
3. against transformers (OWL models): its documented processor + model +
   post-processing path and its zero-shot-object-detection pipeline, on the same
   weights, image and queries, per frame, with the detections compared;
4. text cache: a repeated command (cached embeddings) against re-encoding every frame;
5. overload: the camera at 30 Hz for 60 s into a model slower than that: output rate,
   latency, dropped frames, the node's resident memory;
6. the ~/detect service: a request carrying the same frame and the command, round trip
   from this process, interleaved with (1);
7. 3D from depth: the node's depth stage alone (the scene's registered depth, 20
   detections), and end to end with a second node running use_depth, interleaved with
   the first;
8. transport (once, with the first model): JPEG decode and encode and compressedDepth
   decode costs, and raw frames on Fast DDS's defaults, raw with the large-frame
   profile and compressed, each streamed at 30 Hz: frames per second that reach the
   node, frames lost in transport, end-to-end latency (see bench/transport.py).

Prints a table; ``--json PATH`` writes everything (top-level headline numbers from the
OWL-ViT model, see report.TARGETS). ``--quick`` runs every code path on tiny models in
seconds.
"""

import json
import logging
import os
import sys
import tempfile

SECTIONS = ('model', 'ros', 'runtimes', 'transformers', 'text_cache', 'overload', 'service',
            'depth', 'transport')
MODELS = ('default', 'owl')
DEFAULT_QUERIES = 'red circle, blue square, green triangle'
CPU_COMPARE_PRECISIONS = ('fp32', 'bf16', 'int8')
CUDA_COMPARE_PRECISIONS = ('fp32', 'fp16')
# The exported variants (bench/runtimes.py); listed here so --help costs no import of torch.
VARIANTS = ('openvino_int8', 'onnxruntime_int8', 'openvino_fp32', 'onnxruntime_fp32',
            'onnxruntime_fp16', 'torch_fp16')
CPU_VARIANTS = ('openvino_int8', 'onnxruntime_int8')
CUDA_VARIANTS = ('torch_fp16', 'onnxruntime_fp32', 'onnxruntime_fp16')


def _names(text, allowed, option):
    names = [name.strip() for name in text.split(',') if name.strip()]
    unknown = sorted(set(names) - set(allowed))
    if unknown or not names:
        raise ValueError(f'{option}: choose from {", ".join(allowed)} (got {text!r})')
    return names


def add_arguments(parser):
    """Add the bench options to ``parser``."""
    parser.add_argument('--json', metavar='PATH', help='write the full report as JSON here')
    parser.add_argument('--quick', action='store_true',
                        help='tiny stand-in models, 3 repetitions, 3 s overload: every code '
                             'path in seconds (numbers not meaningful)')
    parser.add_argument('--only', default=','.join(SECTIONS),
                        help=f'measurements to run, comma-separated from {", ".join(SECTIONS)}'
                             ' (default: all)')
    parser.add_argument('--models', default=','.join(MODELS),
                        help='models to measure: default, owl (default: both)')
    parser.add_argument('--repetitions', type=int, default=None,
                        help='timed repetitions of each side (default 10; quick 3)')
    parser.add_argument('--warmup', type=int, default=None,
                        help='untimed runs of each side first (default 2; quick 1)')
    parser.add_argument('--overload-seconds', type=float, default=None,
                        help='length of the overload run (default 60; quick 3)')
    parser.add_argument('--overload-rate', type=float, default=30.0,
                        help='camera rate of the overload run in Hz (default 30)')
    parser.add_argument('--transport-seconds', type=float, default=None,
                        help='length of each transport stream at 30 Hz (default 10; quick 2)')
    parser.add_argument('--jpeg-quality', type=int, default=95,
                        help='JPEG quality of the compressed transport (default 95, the '
                             "compressed_image_transport plugin's)")
    parser.add_argument('--device', default='auto', help="'auto', 'cpu' or 'cuda[:N]'")
    parser.add_argument('--precision', default='auto',
                        choices=('auto', 'fp32', 'fp16', 'bf16', 'int8'),
                        help='precision of the model-alone, ROS, text-cache and overload '
                             "runs (default auto: the node's default)")
    parser.add_argument('--compare-precisions', default=None,
                        help='our precisions in the transformers comparison (default '
                             'fp32,bf16,int8 on CPU, fp32,fp16 on CUDA); transformers runs '
                             'at each float one')
    parser.add_argument('--runtimes', default=None,
                        help='exported variants timed against torch fp32, comma-separated from '
                             f'{", ".join(VARIANTS)} (default {",".join(CPU_VARIANTS)} on CPU, '
                             f'{",".join(CUDA_VARIANTS)} on CUDA)')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch threads here and in the node (default: torch default)')
    parser.add_argument('--owl-preset', default=None, choices=('tiny', 'base32', 'base16'),
                        help='size of the random OWL-ViT (default base32; quick tiny)')
    parser.add_argument('--default-model', default=None,
                        help='native model folder to measure as the default (default: the '
                             'shipped model; quick: a tiny random one)')
    parser.add_argument('--queries', default=DEFAULT_QUERIES,
                        help=f'the command, phrases separated by commas (default '
                             f'{DEFAULT_QUERIES!r})')
    parser.add_argument('--threshold', type=float, default=0.1,
                        help='score threshold of the transformers comparison (default 0.1)')
    parser.add_argument('--width', type=int, default=640)
    parser.add_argument('--height', type=int, default=480)
    parser.add_argument('--dds', default='large-shm', choices=('large-shm', 'default'),
                        help='Fast DDS transport: large-shm (default) gives shared memory a '
                             "16 MB segment so 640x480 frames fit; default keeps Fast DDS's "
                             '512 KB, with which most best-effort frames are lost')
    parser.add_argument('--cache-dir', default=None,
                        help='where built benchmark models are kept (default '
                             '~/.cache/vlm_perception/bench)')


def settings_from(args):
    """Resolve the options (quick defaults, device) into the settings dict the report keeps."""
    from vlm_perception.model.detector import resolve_device
    from vlm_perception.pairing import parse_command
    from vlm_perception.params import defaults

    from .models import default_cache_dir

    device = resolve_device(args.device)
    variants = args.runtimes or ','.join(CUDA_VARIANTS if device.type == 'cuda'
                                         else CPU_VARIANTS)
    node = defaults()
    compare = args.compare_precisions or ','.join(
        CUDA_COMPARE_PRECISIONS if device.type == 'cuda' else CPU_COMPARE_PRECISIONS)
    settings = {
        'quick': bool(args.quick),
        'sections': _names(args.only, SECTIONS, '--only'),
        'models': _names(args.models, MODELS, '--models'),
        'repetitions': args.repetitions or (3 if args.quick else 10),
        'warmup': args.warmup if args.warmup is not None else (1 if args.quick else 2),
        'overload_seconds': args.overload_seconds or (3.0 if args.quick else 60.0),
        'overload_rate_hz': args.overload_rate,
        'transport_seconds': args.transport_seconds or (2.0 if args.quick else 10.0),
        'transport_rate_hz': 30.0,
        'jpeg_quality': args.jpeg_quality,
        'device': str(device),
        'precision': args.precision,
        'compare_precisions': _names(compare, ('fp32', 'fp16', 'bf16', 'int8'),
                                     '--compare-precisions'),
        'threads': args.threads,
        'runtime_variants': _names(variants, tuple(VARIANTS), '--runtimes'),
        'owl_preset': args.owl_preset or ('tiny' if args.quick else 'base32'),
        'default_model': args.default_model,
        # Split as the node splits the command it is sent.
        'queries': parse_command(args.queries, node['max_queries'],
                                 node['max_query_chars']).queries,
        'command': args.queries,
        'transformers_threshold': args.threshold,
        'width': args.width,
        'height': args.height,
        'cache_dir': args.cache_dir or default_cache_dir(),
        'dds': args.dds,
        'node_parameters': {name: node[name] for name in
                            ('score_threshold', 'nms_iou', 'max_detections',
                             'image_reliability', 'image_queue_depth', 'text_cache_size')},
    }
    if settings['repetitions'] < 1 or settings['warmup'] < 0 \
            or settings['overload_seconds'] <= 0 or settings['transport_seconds'] <= 0 \
            or not 1 <= settings['jpeg_quality'] <= 100:
        raise ValueError('--repetitions must be >= 1, --warmup >= 0, --overload-seconds and '
                         '--transport-seconds > 0, --jpeg-quality in 1..100')
    if 'fp32' not in settings['compare_precisions']:
        raise ValueError('--compare-precisions must include fp32 (the like-for-like comparison)')
    return settings


def say(text):
    """Progress on stderr (the table goes to stdout)."""
    print(f'[bench] {text}', file=sys.stderr, flush=True)


def run(args):
    """Run the benchmark; print the table, write the JSON; return the exit code."""
    try:
        settings = settings_from(args)
    except ValueError as error:
        print(f'vlm-perception bench: error: {error}', file=sys.stderr)
        return 2
    os.environ.setdefault('HF_HUB_OFFLINE', '1')  # random models only: never the hub
    logging.getLogger('vlm_perception.model').setLevel(logging.WARNING)
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    import torch
    if settings['threads']:
        torch.set_num_threads(settings['threads'])

    from vlm_perception.local_graph import large_frame_transport

    from .measure import measure_model
    from .models import default_model, owl_model
    from .report import busy_processes, describe_machine, table, targets

    report = {'machine': describe_machine(settings['device']), 'settings': settings}
    report['busy_processes'] = busy_processes()
    with tempfile.TemporaryDirectory(prefix='vlm_bench_') as workdir:
        transport_env, settings['transport'] = large_frame_transport(
            enabled=settings['dds'] == 'large-shm')
        models = []
        if 'default' in settings['models']:
            models.append(default_model(workdir, settings['default_model'],
                                        tiny=settings['quick']))
        if 'owl' in settings['models']:
            say(f'preparing the random OWL-ViT ({settings["owl_preset"]}) in '
                f'{settings["cache_dir"]}')
            models.append(owl_model(settings['owl_preset'], settings['cache_dir'], workdir))
        if 'depth' in settings['sections']:
            from .camera import bench_scene
            from .depth import depth_stage

            say('depth stage alone')
            report['depth_stage'] = depth_stage(
                bench_scene(settings['width'], settings['height']),
                max(settings['repetitions'], 50), settings['warmup'])
        report['models'] = {}
        for model in models:
            report['models'][model.key] = measure_model(model, settings, workdir, say,
                                                        transport_env)
        if 'transport' in settings['sections']:
            from .transport import measure_transport

            report['transport'] = measure_transport(models[0], settings, workdir, say)
    report['busy_processes_after'] = busy_processes()
    report.update(headline(report))
    report['targets'] = targets(report)
    print(table(report))
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as stream:
            json.dump(report, stream, indent=2)
            stream.write('\n')
        say(f'wrote {args.json}')
    return 0


def headline(report):
    """Return the top-level numbers, from the OWL-ViT model (or the one model measured)."""
    models = report['models']
    key = next((key for key in models if key.startswith('owlvit')), next(iter(models), None))
    entry = models.get(key, {})
    ros = entry.get('ros') or {}
    service = entry.get('service') or {}
    depth = entry.get('depth') or {}
    comparison = entry.get('transformers') or {}
    overload = entry.get('overload') or {}
    best = comparison.get('best') or {}
    figures = {
        'headline_model': key,
        'ros_over_model': ros.get('over_forward'),
        'ros_over_node_forward': ros.get('over_node_forward'),
        'service_over_model': service.get('over_infer'),
        'service_over_node_forward': service.get('over_node_forward'),
        'depth_stage_median_ms': (report.get('depth_stage') or {}).get('median_ms'),
        'depth_on_over_off': depth.get('on_over_off'),
        # The target: against pipeline("zero-shot-object-detection"), both fp32.
        'speedup_vs_transformers': comparison.get('speedups', {}).get(
            'ours_fp32 vs transformers_pipeline_fp32'),
        'text_cache_speedup': (entry.get('text_cache') or {}).get('speedup'),
        'overload_latency_p95_over_period': overload.get('latency_p95_over_period'),
        'overload_rss_growth_mb': overload.get('rss_growth_mb'),
        'speedup_vs_transformers_best': best.get('speedup'),
        'speedup_vs_transformers_best_label': best.get('label'),
        # The stricter one: against processor + model + post-processing as documented, both
        # fp32, where the forward pass (the same torch operations) is most of the time.
        'speedup_vs_transformers_processor': comparison.get('speedups', {}).get(
            'ours_fp32 vs transformers_fp32'),
        'speedup_vs_transformers_processor_label':
            'ours fp32 vs processor + model + post_process fp32',
    }
    figures.update(runtime_headline(entry.get('runtimes') or {}))
    shipped = models.get('default', {}).get('runtimes') or {}
    figures.update({f'shipped_{name}': value for name, value in runtime_headline(shipped).items()
                    if value is not None})
    return figures


def runtime_headline(runtimes):
    """
    Return the exported runtimes' top-level numbers from one model's 'runtimes' entry.

    speedup_<variant>_vs_torch_fp32: torch fp32's forward (the image path) median over
    the variant's; box_p95_px_<variant>: how far its detections matched to torch fp32's
    on the CPU are from them (p95, pixels); matched_share_<variant>: the share matched;
    ros_over_openvino: end to end through ROS with runtime openvino over that runtime's
    forward alone (as ros_over_model is for torch).
    """
    figures = {}
    for name, variant in (runtimes.get('variants') or {}).items():
        figures[f'speedup_{name}_vs_torch_fp32'] = variant['speedup_forward']
        found = variant['agreement_with_torch_fp32_cpu']
        figures[f'box_p95_px_{name}'] = (found['box_error_px'] or {}).get('p95')
        figures[f'matched_share_{name}'] = found['matched_share']
    ros = (runtimes.get('ros_openvino_int8') or {}).get('ros') or {}
    figures['ros_over_openvino'] = ros.get('over_forward')
    return figures
