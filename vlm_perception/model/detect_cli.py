# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
``vlm-perception detect IMAGE --text "red cup, tennis ball"``: detect named objects in a file.

Prints the detections (label, score, box in image pixels) and the feature sizes, or with
``--json`` one JSON object with the fields of a DetectionResult (features summarised by
their sizes). Exits 1 with one line on stderr when the image or the model cannot be read.
"""

import json
import logging
import math
import sys

from vlm_perception.pairing import parse_command

# Generous limits: a person typing at a shell, not a flood on a topic.
MAX_QUERIES = 64
MAX_QUERY_CHARS = 200


def add_arguments(parser):
    """Add the detect options to ``parser``."""
    parser.add_argument('image', help='image file (anything OpenCV reads)')
    parser.add_argument('--text', required=True,
                        help='what to look for: phrases separated by commas or semicolons')
    parser.add_argument('--model', default=None,
                        help='model folder or hub id (default: the shipped native model)')
    parser.add_argument('--backend', default='auto',
                        choices=('auto', 'native', 'owlvit', 'owlv2'))
    parser.add_argument('--device', default='auto', help="'auto', 'cpu' or 'cuda[:N]'")
    parser.add_argument('--precision', default='auto',
                        choices=('auto', 'fp32', 'fp16', 'bf16', 'int8'))
    parser.add_argument('--threshold', type=float, default=None,
                        help="score threshold (default: the model's own, else 0.1)")
    parser.add_argument('--json', action='store_true', help='print one JSON object')


def _fail(message):
    print(f'vlm-perception detect: error: {message}', file=sys.stderr)
    return 1


def detector_fields(detector):
    """Return the model fields of a summary: model, backend, device, dtype."""
    return {'model': detector.model_id, 'backend': detector.backend,
            'device': str(detector.device), 'dtype': str(detector.dtype).replace('torch.', '')}


def result_to_dict(result, model, image_path, image_shape, queries, positions_3d=None):
    """
    Return a JSON-ready dict of a DetectionResult, features summarised by size.

    ``result``: a DetectionResult, or anything with its fields (``vlm-perception ask``
    passes what came back in a message); ``model``: the model fields (see
    :func:`detector_fields`; device and dtype may be left out); ``image_shape``:
    (height, width, ...); ``positions_3d``: (N, 3) metres, NaN rows allowed, or None.
    """
    summary = {
        'image': image_path,
        'image_width': int(image_shape[1]),
        'image_height': int(image_shape[0]),
        **model,
        'queries': list(queries),
        'vision_features': {'length': int(result.vision_features.shape[0])},
        'text_features': {'rows': int(result.text_features.shape[0]),
                          'length': int(result.text_features.shape[1])},
        'fused_features': {'rows': int(result.fused_features.shape[0]),
                           'length': int(result.fused_features.shape[1])},
        'labels': list(result.labels),
        'query_indices': result.query_indices.tolist(),
        'boxes': [[round(float(v), 2) for v in box] for box in result.boxes],
        'scores': [round(float(score), 4) for score in result.scores],
        'timings': {name: round(seconds, 5) for name, seconds in result.timings.items()},
    }
    if positions_3d is not None:
        summary['positions_3d'] = [[round(float(value), 3) if math.isfinite(value) else None
                                    for value in position] for position in positions_3d]
    return summary


def format_text(summary):
    """Return the human-readable report of a :func:`result_to_dict` summary."""
    details = ', '.join(summary[key] for key in ('backend', 'device', 'dtype') if key in summary)
    lines = [
        f"{summary['image']}: {summary['image_width']}x{summary['image_height']}, "
        f"model {summary['model']} ({details})",
        f"queries: {', '.join(summary['queries'])}",
        f"features: vision {summary['vision_features']['length']}, "
        f"text {summary['text_features']['rows']}x{summary['text_features']['length']}, "
        f"fused {summary['fused_features']['rows']}x{summary['fused_features']['length']}",
        f"{len(summary['labels'])} detection(s)" + (':' if summary['labels'] else ''),
    ]
    width = max((len(label) for label in summary['labels']), default=0)
    located = summary.get('positions_3d') or [None] * len(summary['labels'])
    for label, score, box, position in zip(summary['labels'], summary['scores'],
                                           summary['boxes'], located):
        corners = ', '.join(f'{value:.1f}' for value in box)
        line = f'  {label:<{width}}  {score:.3f}  [{corners}]'
        if position is not None:
            line += ('  no depth' if None in position else
                     '  at ({:.3f}, {:.3f}, {:.3f}) m'.format(*position))
        lines.append(line)
    lines.append('timings: ' + ', '.join(f'{name} {seconds * 1000:.1f} ms'
                                         for name, seconds in summary['timings'].items()))
    return '\n'.join(lines)


def run(args):
    """Run detection on one image file; return the exit code."""
    import cv2
    from vlm_perception.model import load_model, ModelLoadError

    logging.basicConfig(level=logging.WARNING if args.json else logging.INFO,
                        format='%(message)s', stream=sys.stderr)
    queries = parse_command(args.text, MAX_QUERIES, MAX_QUERY_CHARS).queries
    if not queries:
        return _fail('--text names nothing to look for')
    image = cv2.imread(args.image, cv2.IMREAD_COLOR)
    if image is None:
        return _fail(f'cannot read image {args.image}')
    try:
        detector = load_model(args.model, backend=args.backend, device=args.device,
                              precision=args.precision, score_threshold=args.threshold)
    except (ModelLoadError, ValueError) as error:
        return _fail(str(error))
    result = detector.infer(image, queries, channel_order='bgr')
    summary = result_to_dict(result, detector_fields(detector), args.image, image.shape, queries)
    print(json.dumps(summary) if args.json else format_text(summary))
    return 0
