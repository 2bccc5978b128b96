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


def result_to_dict(result, detector, image_path, image_shape, queries):
    """Return a JSON-ready dict of a DetectionResult, features summarised by size."""
    return {
        'image': image_path,
        'image_width': int(image_shape[1]),
        'image_height': int(image_shape[0]),
        'model': detector.model_id,
        'backend': detector.backend,
        'device': str(detector.device),
        'dtype': str(detector.dtype).replace('torch.', ''),
        'queries': queries,
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


def format_text(summary):
    """Return the human-readable report of a :func:`result_to_dict` summary."""
    lines = [
        f"{summary['image']}: {summary['image_width']}x{summary['image_height']}, "
        f"model {summary['model']} ({summary['backend']}, {summary['device']}, "
        f"{summary['dtype']})",
        f"queries: {', '.join(summary['queries'])}",
        f"features: vision {summary['vision_features']['length']}, "
        f"text {summary['text_features']['rows']}x{summary['text_features']['length']}, "
        f"fused {summary['fused_features']['rows']}x{summary['fused_features']['length']}",
        f"{len(summary['labels'])} detection(s)" + (':' if summary['labels'] else ''),
    ]
    width = max((len(label) for label in summary['labels']), default=0)
    for label, score, box in zip(summary['labels'], summary['scores'], summary['boxes']):
        corners = ', '.join(f'{value:.1f}' for value in box)
        lines.append(f'  {label:<{width}}  {score:.3f}  [{corners}]')
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
    summary = result_to_dict(result, detector, args.image, image.shape, queries)
    print(json.dumps(summary) if args.json else format_text(summary))
    return 0
