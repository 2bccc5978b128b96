# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
``vlm-perception eval``: measure a model on a fixed held-out set of tabletop scenes.

Everything goes through ``load_model(...).infer(image, queries)``, the call
users make. The set is generated from its own seed, from the 'eval' split
(every colour-shape pair, the held-out ones included). Per scene:

* pairs: one call asking for every pair on the table plus up to three absent
  pairs, hard ones first (sharing a colour or a shape with an object there);
  scored as COCO-style AP per pair, averaged over the seen pairs (AP50 and
  AP50:95) and over the held-out pairs (AP50, AP50:95);
* colours and shapes: one call asking every colour alone (and one asking
  every shape alone) that is there plus one that is not: AP50 each, to show
  which half of a pair is harder;
* a multi-object command (scenes with two different objects or more): 2-3 phrases naming
  different things on the table, e.g. "red circle, the blue cross"; recall
  at the model's own score threshold (IoU >= 0.5, right label);
* an absent object: a one-phrase command whose object is not there (a pair,
  a colour or a shape, in turn); the false-positive rate is the share of
  those commands that return any detection at the model's threshold;
* 3D: every true positive of the pairs call at the model's own threshold
  (IoU >= 0.5, right label) is located in space from the scene's sensor depth
  by :func:`vlm_perception.geometry.locate_objects`, the call the node makes,
  and compared with the true centroid of the object's visible surface: the
  median distance and the shares within 2 cm and 5 cm (no position at all
  counts as beyond 5 cm). The same with the true boxes tells the error of the
  boxes apart from that of the depth and the geometry.

:func:`choose_threshold` picks a model's default score threshold the same
way on scenes of the training split (seen pairs only), never on this set.
"""

import argparse
import json
import math
import time
from typing import List, NamedTuple

import numpy as np

from vlm_perception.geometry import locate_objects
from vlm_perception.params import defaults
from vlm_perception.training.metrics import IOU_THRESHOLDS, match_detections
from vlm_perception.training.metrics import match_ground_truth, mean_ap, recall_at, Record
from vlm_perception.world import COLOURS, make_phrase, SceneGenerator, SHAPES, Target
from vlm_perception.world.vocabulary import HELD_OUT_PAIRS, pair_name

EVAL_SEED = 20260
DEFAULT_SCENES = 400
# For AP every detection counts, however weak.
AP_SCORE_THRESHOLD = 0.001
ABSENT_KINDS = ('pair', 'colour', 'shape')
AP_KINDS = ('pairs', 'colours', 'shapes')
# How the node reads depth by default (its parameters' defaults): the synthetic sensor
# publishes millimetres, and readings outside (depth_min, depth_max) metres are none.
_NODE = defaults()
DEPTH_SCALE = _NODE['depth_scale']
DEPTH_RANGE = (_NODE['depth_min'], _NODE['depth_max'])
# Distances (metres) a 3D position may be off by, for the shares reported.
LOCATION_TOLERANCES = {'2cm': 0.02, '5cm': 0.05}


class Call(NamedTuple):
    """One infer call of the set: which scene, what kind, its targets and phrases."""

    scene: int
    kind: str               # 'pairs', 'colours', 'shapes', 'multi', 'absent'
    targets: List[Target]
    phrases: List[str]


def _referents(scene, target):
    return [i for i, obj in enumerate(scene.objects) if target.matches(obj.colour, obj.shape)]


def _absent_targets(scene, candidates):
    """Return the candidate targets that nothing in the scene matches."""
    return [t for t in candidates if not _referents(scene, t)]


def scene_calls(scene, rng, pairs):
    """
    Return the :class:`Call` s asked of one scene (see the module docstring).

    pairs: the (colour, shape) pairs queries may name. ``rng`` picks the
    wording and the absent targets.
    """
    calls = []
    present = sorted({(obj.colour, obj.shape) for obj in scene.objects})
    pair_targets = [Target(c, s) for c, s in pairs]
    absent_pairs = _shuffled_hard_first(rng, scene, _absent_targets(scene, pair_targets))[:3]
    targets = [Target(c, s) for c, s in present] + absent_pairs
    calls.append(_call(scene, rng, 'pairs', targets))
    for kind, names, field in (('colours', COLOURS, 'colour'), ('shapes', SHAPES, 'shape')):
        single = [Target(n, None) if field == 'colour' else Target(None, n) for n in names]
        there = [t for t in single if _referents(scene, t)]
        missing = [t for t in single if not _referents(scene, t)]
        extra = [missing[int(rng.integers(len(missing)))]] if missing else []
        calls.append(_call(scene, rng, kind, there + extra))
    multi = _multi_targets(scene, rng)
    if len(multi) >= 2:
        calls.append(_call(scene, rng, 'multi', multi))
    kind = ABSENT_KINDS[scene.index % len(ABSENT_KINDS)]
    if kind == 'pair':
        candidates = pair_targets
    elif kind == 'colour':
        candidates = [Target(c, None) for c in COLOURS]
    else:
        candidates = [Target(None, s) for s in SHAPES]
    absent = _shuffled_hard_first(rng, scene, _absent_targets(scene, candidates))
    if absent:
        calls.append(_call(scene, rng, 'absent', absent[:1]))
    return calls


def _shuffled_hard_first(rng, scene, targets):
    """Shuffle targets, keeping those that share a colour or shape with the scene first."""
    colours = {obj.colour for obj in scene.objects}
    shapes = {obj.shape for obj in scene.objects}
    order = rng.permutation(len(targets))
    shuffled = [targets[i] for i in order]
    return sorted(shuffled, key=lambda t: not (t.colour in colours or t.shape in shapes))


def _multi_targets(scene, rng):
    """
    Return 2-3 targets on the table whose objects do not overlap, or fewer when none exist.

    Targets are pairs, colours or shapes; the first never takes every object.
    """
    options = [Target(obj.colour, obj.shape) for obj in scene.objects]
    options += [Target(obj.colour, None) for obj in scene.objects]
    options += [Target(None, obj.shape) for obj in scene.objects]
    chosen, used = [], set()
    for index in rng.permutation(len(options)):
        target = options[index]
        referents = set(_referents(scene, target))
        leaves_some = len(used | referents) < len(scene.objects)
        if target in chosen or referents & used or not (chosen or leaves_some):
            continue
        chosen.append(target)
        used |= referents
        if len(chosen) == 3 or (len(chosen) == 2 and rng.random() < 0.5):
            break
    return chosen


def _call(scene, rng, kind, targets):
    phrases = [make_phrase(rng, t.colour, t.shape) for t in targets]
    return Call(scene.index, kind, list(targets), phrases)


def build_eval_set(seed=EVAL_SEED, scenes=DEFAULT_SCENES, split='eval', depth=True):
    """
    Return (generator, calls): the scenes' generator and every :class:`Call`, in order.

    ``split='eval'`` asks about every pair (held-out ones included);
    ``'train'`` only about the pairs training shows (used for calibration).
    ``depth=False``: scenes without depth (no 3D metrics).
    """
    generator = SceneGenerator(seed=seed, split=split, depth=depth)
    # The calls need only the objects, which are the same without depth (and faster).
    objects_only = SceneGenerator(seed=seed, split=split, depth=False)
    calls = []
    for index in range(scenes):
        scene = objects_only.generate(index)
        rng = np.random.default_rng([seed, 99, index])
        calls.extend(scene_calls(scene, rng, generator.pairs))
    return generator, calls


def run_calls(detector, generator, calls, everything=AP_KINDS, log=None):
    """
    Run every call through ``detector.infer``; return a list of (call, scene, result).

    Calls whose kind is in ``everything`` run with every detection kept (for
    AP); the others ('multi', 'absent') at the detector's own threshold, as a
    user gets them.
    """
    own_threshold = detector.score_threshold
    outputs, scene = [], None
    try:
        for number, call in enumerate(calls):
            if scene is None or scene.index != call.scene:
                scene = generator.generate(call.scene)
            detector.score_threshold = (AP_SCORE_THRESHOLD if call.kind in everything
                                        else own_threshold)
            outputs.append((call, scene, detector.infer(scene.image, call.phrases)))
            if log and (number + 1) % 500 == 0:
                log(f'{number + 1}/{len(calls)} calls')
    finally:
        detector.score_threshold = own_threshold
    return outputs


def _records(call, scene, result):
    """One :class:`Record` per query of a call: its detections and the boxes it refers to."""
    records = []
    for q, target in enumerate(call.targets):
        mine = result.query_indices == q
        gt = np.array([scene.objects[i].box for i in _referents(scene, target)],
                      np.float64).reshape(-1, 4)
        records.append(Record(result.boxes[mine], result.scores[mine], gt))
    return records


def location_errors(scene, boxes, objects):
    """
    Return how far (metres) the 3D position located in each box is from its object's truth.

    ``boxes`` (N, 4) pixels, ``objects`` the N scene objects they found; located as
    the node does, from the scene's sensor depth. NaN where no position came out.
    """
    if len(objects) == 0:
        return np.zeros(0)
    located = locate_objects(scene.depth, scene.intrinsics, boxes, DEPTH_SCALE, DEPTH_RANGE)
    truth = np.array([obj.position_3d for obj in objects], np.float64)
    return np.linalg.norm(located.positions.astype(np.float64) - truth, axis=1)


def _true_positive_errors(call, scene, records, score_threshold):
    """3D errors of the detections of a call at ``score_threshold`` that found their object."""
    boxes, objects = [], []
    for q, (target, record) in enumerate(zip(call.targets, records)):
        kept = record.scores > score_threshold
        matched = match_ground_truth(record.boxes[kept], record.scores[kept], record.gt_boxes,
                                     0.5)
        referents = _referents(scene, target)
        boxes.extend(record.boxes[kept][matched >= 0])
        objects.extend(scene.objects[referents[m]] for m in matched[matched >= 0])
    return location_errors(scene, np.array(boxes, np.float64).reshape(-1, 4), objects)


def location_summary(errors):
    """
    Summarise 3D errors (metres): their median and the shares within LOCATION_TOLERANCES.

    A NaN error (no position) counts as beyond every tolerance, in the median too.
    """
    errors = np.asarray(errors, np.float64)
    beyond = np.where(np.isnan(errors), np.inf, errors)
    summary = {'median_error_m': float(np.median(beyond)) if len(errors) else float('nan')}
    for name, tolerance in LOCATION_TOLERANCES.items():
        summary[f'within_{name}'] = float((beyond <= tolerance).mean()) if len(errors) \
            else float('nan')
    summary['count'] = len(errors)
    summary['without_position'] = int(np.isnan(errors).sum())
    return summary


def summarise(outputs, score_threshold, held_out=HELD_OUT_PAIRS):
    """Turn run_calls output into the metrics dict (see the module docstring)."""
    held_out = {pair_name(c, s) for c, s in held_out}
    by_kind = {kind: {} for kind in AP_KINDS}
    multi, absent = [], {kind: [] for kind in ABSENT_KINDS}
    found_3d, true_boxes_3d = [], []
    for call, scene, result in outputs:
        records = _records(call, scene, result)
        if call.kind == 'pairs' and scene.depth is not None:
            found_3d.extend(_true_positive_errors(call, scene, records, score_threshold))
            true_boxes_3d.extend(location_errors(
                scene, np.array([obj.box for obj in scene.objects]), scene.objects))
        if call.kind in by_kind:
            for target, record in zip(call.targets, records):
                name = pair_name(target.colour, target.shape) if call.kind == 'pairs' else (
                    target.colour or target.shape)
                by_kind[call.kind].setdefault(name, []).append(record)
        elif call.kind == 'multi':
            multi.extend(records)
        else:
            target = call.targets[0]
            kind = 'pair' if target.colour and target.shape else (
                'colour' if target.colour else 'shape')
            absent[kind].append(len(result.scores) > 0)
    seen = {k: v for k, v in by_kind['pairs'].items() if k not in held_out}
    unseen = {k: v for k, v in by_kind['pairs'].items() if k in held_out}
    ap50_seen, per_pair = mean_ap(seen, (0.5,))
    ap50_95_seen, _ = mean_ap(seen, IOU_THRESHOLDS)
    ap50_held_out, per_held_out = mean_ap(unseen, (0.5,))
    ap50_95_held_out, _ = mean_ap(unseen, IOU_THRESHOLDS)
    flags = [flag for values in absent.values() for flag in values]
    location = location_summary(found_3d)
    return {
        'ap50_seen': ap50_seen,
        'ap50_95_seen': ap50_95_seen,
        'ap50_held_out': ap50_held_out,
        'ap50_95_held_out': ap50_95_held_out,
        'ap50_colour_only': mean_ap(by_kind['colours'], (0.5,))[0],
        'ap50_shape_only': mean_ap(by_kind['shapes'], (0.5,))[0],
        'multi_object_recall': recall_at(multi, 0.5),
        'absent_false_positive_rate': float(np.mean(flags)) if flags else float('nan'),
        'absent_false_positive_rate_by_kind': {
            kind: float(np.mean(v)) if v else float('nan') for kind, v in absent.items()},
        'position_3d_median_error_m': location['median_error_m'],
        'position_3d_within_2cm': location['within_2cm'],
        'position_3d_within_5cm': location['within_5cm'],
        'position_3d_true_boxes': location_summary(true_boxes_3d),
        'score_threshold': float(score_threshold),
        'ap50_per_pair': {**per_pair, **per_held_out},
        'counts': {'pair_queries': sum(len(v) for v in by_kind['pairs'].values()),
                   'held_out_objects': sum(len(r.gt_boxes) for v in unseen.values() for r in v),
                   'multi_object_targets': sum(len(r.gt_boxes) for r in multi),
                   'absent_commands': len(flags),
                   'true_positives_3d': location['count'],
                   'true_positives_3d_without_position': location['without_position']},
    }


def evaluate(detector, seed=EVAL_SEED, scenes=DEFAULT_SCENES, log=None):
    """Evaluate a loaded Detector on the fixed held-out set; return the metrics dict."""
    start = time.perf_counter()
    generator, calls = build_eval_set(seed, scenes)
    outputs = run_calls(detector, generator, calls, log=log)
    metrics = summarise(outputs, detector.score_threshold, generator.held_out)
    metrics.update(model=detector.model_id, seed=seed, scenes=scenes,
                   seconds=round(time.perf_counter() - start, 1))
    return metrics


def choose_threshold(detector, seed=EVAL_SEED + 1, scenes=200, max_false_positive_rate=0.02):
    """
    Pick a default score threshold on training-split scenes (seen pairs only).

    The lowest threshold at which at most ``max_false_positive_rate`` of
    one-phrase commands for absent objects return anything: every present
    object the model can find at that rate stays found. Returns
    (threshold, dict of recall and false-positive rate at it).
    """
    generator, calls = build_eval_set(seed, scenes, split='train', depth=False)
    asked = []
    for call in calls:
        if call.kind == 'pairs':  # each present pair alone, as the absent ones are
            asked.extend(call._replace(kind='present', targets=[t], phrases=[p])
                         for t, p in zip(call.targets, call.phrases))
        elif call.kind == 'absent':
            asked.append(call)
    outputs = run_calls(detector, generator, asked, everything=('present', 'absent'))
    absent_best, hit_scores, num_gt = [], [], 0
    for call, scene, result in outputs:
        record = _records(call, scene, result)[0]
        if len(record.gt_boxes) == 0:
            absent_best.append(float(result.scores.max()) if len(result.scores) else 0.0)
        else:
            hits = match_detections(record.boxes, record.scores, record.gt_boxes, 0.5)
            hit_scores.extend(record.scores[hits].tolist())
            num_gt += len(record.gt_boxes)
    absent_best = np.sort(np.array(absent_best))
    allowed = int(math.floor(max_false_positive_rate * len(absent_best)))
    # Scores must be above the threshold; stay above the (allowed+1)-th highest absent score.
    threshold = float(absent_best[-(allowed + 1)]) if len(absent_best) > allowed else 0.0
    threshold = min(max(threshold, 0.05), 0.95)
    hit_scores = np.array(hit_scores)
    stats = {'recall': float((hit_scores > threshold).sum() / max(num_gt, 1)),
             'false_positive_rate': float((absent_best > threshold).mean())}
    return threshold, stats


def format_table(metrics):
    """Return the metrics as a plain-text table."""
    rows = [
        ('AP50, seen colour-shape pairs', metrics['ap50_seen'], '>= 0.90'),
        ('AP50:95, seen pairs', metrics['ap50_95_seen'], ''),
        ('AP50, held-out pairs', metrics['ap50_held_out'], '>= 0.70'),
        ('AP50:95, held-out pairs', metrics['ap50_95_held_out'], ''),
        ('AP50, colour only', metrics['ap50_colour_only'], ''),
        ('AP50, shape only', metrics['ap50_shape_only'], ''),
        ('recall, multi-object commands', metrics['multi_object_recall'], ''),
        ('false positives, absent objects', metrics['absent_false_positive_rate'], '<= 0.05'),
        ('3D error of true positives, cm', 100 * metrics['position_3d_median_error_m'],
         '<= 1.0 (median)'),
        ('3D within 2 cm', metrics['position_3d_within_2cm'], '>= 0.90'),
        ('3D within 5 cm', metrics['position_3d_within_5cm'], '>= 0.98'),
    ]
    lines = [f'model {metrics["model"]}  ({metrics["scenes"]} scenes, seed {metrics["seed"]}, '
             f'score threshold {metrics["score_threshold"]:.2f})',
             f'{"metric":34s} {"value":>7s}  target']
    lines += [f'{name:34s} {value:7.3f}  {target}' for name, value, target in rows]
    by_kind = metrics['absent_false_positive_rate_by_kind']
    lines.append('  absent false positives by kind: '
                 + ', '.join(f'{k} {v:.3f}' for k, v in by_kind.items()))
    true_boxes = metrics['position_3d_true_boxes']
    lines.append(f'  3D with the true boxes: median {100 * true_boxes["median_error_m"]:.2f} cm, '
                 f'within 2 cm {true_boxes["within_2cm"]:.3f}, within 5 cm '
                 f'{true_boxes["within_5cm"]:.3f} ({true_boxes["count"]} objects)')
    return '\n'.join(lines)


def add_arguments(parser):
    """Add the ``eval`` options to an argparse parser."""
    parser.add_argument('--model', default=None,
                        help='model folder or hub id (default: the shipped model)')
    parser.add_argument('--backend', default='auto', help="'auto', 'native', 'owlvit', 'owlv2'")
    parser.add_argument('--device', default='auto', help="'auto', 'cpu', 'cuda[:N]'")
    parser.add_argument('--scenes', type=int, default=DEFAULT_SCENES,
                        help='scenes in the set (default: %(default)s)')
    parser.add_argument('--seed', type=int, default=EVAL_SEED,
                        help='seed of the set (default: %(default)s, the fixed set)')
    parser.add_argument('--score-threshold', type=float, default=None,
                        help="threshold for the commands (default: the model's own)")
    parser.add_argument('--threads', type=int, default=2, help='CPU threads for torch')
    parser.add_argument('--json', action='store_true', help='print only the JSON object')
    parser.add_argument('--output', help='also write the JSON object to this file')


def run(args):
    """Run ``vlm-perception eval``; returns the exit code."""
    import torch

    from vlm_perception.model import load_model
    torch.set_num_threads(max(1, args.threads))
    detector = load_model(args.model, backend=args.backend, device=args.device,
                          score_threshold=args.score_threshold)
    metrics = evaluate(detector, args.seed, args.scenes)
    text = json.dumps(metrics, indent=2, sort_keys=True)
    if args.output:
        with open(args.output, 'w', encoding='utf-8') as stream:
            stream.write(text + '\n')
    print(text if args.json else format_table(metrics) + '\n' + json.dumps(
        {k: v for k, v in metrics.items() if not isinstance(v, dict)}, sort_keys=True))
    return 0


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    add_arguments(parser)
    raise SystemExit(run(parser.parse_args()))
