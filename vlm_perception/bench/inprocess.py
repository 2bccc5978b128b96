# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
Measurements inside this process: the model alone, the text cache and transformers.

Each function returns *sides* for :func:`vlm_perception.bench.stats.interleave`:
callables that process one frame and return {measure: seconds}.

The transformers comparison runs transformers' documented OWL-ViT path (processor,
model forward, ``post_process_grounded_object_detection``) and its
``pipeline('zero-shot-object-detection')`` on the same weights, image and queries as
this package's backend, and :func:`compare_detections` checks that both found the
same boxes.
"""

import time

import numpy as np

from vlm_perception.model import load_model, TextEmbeddingCache

# Detection agreement: a box matches when every corner coordinate is within
# BOX_TOLERANCE_PX pixels and its score within SCORE_TOLERANCE of the other side's.
BOX_TOLERANCE_PX = 1.0
SCORE_TOLERANCE = 0.01
# The pipeline truncates its boxes to whole pixels.
PIPELINE_BOX_TOLERANCE_PX = BOX_TOLERANCE_PX + 1.0


def model_alone_side(detector, image, queries, channel_order):
    """Return a side timing ``detector.infer``: its stages and 'infer' (the whole call)."""
    def side():
        start = time.perf_counter()
        result = detector.infer(image, queries, channel_order=channel_order)
        return dict(result.timings, infer=time.perf_counter() - start)
    return side


def text_cache_sides(detector, image, queries, channel_order):
    """
    Return sides 'cache_on' (repeated command: embeddings from the cache) and 'cache_off'.

    'cache_off' swaps in a zero-capacity cache for its call, so the queries are encoded
    again every frame while the detector's own cache stays warm for 'cache_on'.
    """
    cache_on = model_alone_side(detector, image, queries, channel_order)

    def cache_off():
        cache = detector.text_cache
        detector.text_cache = TextEmbeddingCache(0)
        try:
            return cache_on()
        finally:
            detector.text_cache = cache
    return {'cache_on': cache_on, 'cache_off': cache_off}


def _spread(values, digits):
    """Return {'median', 'p95', 'max'} of ``values`` rounded, or None when empty."""
    if not values:
        return None
    median, p95 = np.percentile(values, [50, 95])
    return {'median': round(float(median), digits), 'p95': round(float(p95), digits),
            'max': round(float(max(values)), digits)}


def _clipped(boxes, width, height):
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4).copy()
    boxes[:, 0::2] = boxes[:, 0::2].clip(0, width)
    boxes[:, 1::2] = boxes[:, 1::2].clip(0, height)
    return boxes


def compare_detections(ours, theirs, width, height, threshold, box_tolerance=BOX_TOLERANCE_PX,
                       score_tolerance=SCORE_TOLERANCE, match_labels=False):
    """
    Pair two sets of detections of one image and say how far apart they are.

    ours, theirs: (boxes (N, 4) xyxy pixels, scores (N,), labels (N,) int query index).
    Boxes are clipped to the image first (ours are, the pipeline's are not). Each of
    ``theirs``, best score first, is paired with the nearest unpaired one of ours
    (largest coordinate difference): of the same label when ``match_labels`` (the
    pipeline lists one patch under several labels), else of any label, so a patch whose
    best query changed shows as a label change. A pair *matches* when the labels agree
    and the box and score differences are within the tolerances; detections scoring
    within ``score_tolerance`` of ``threshold`` may go without a match (a rounding
    difference decides them). Returns the counts, 'same_detections' (everything else
    matched) and, over all pairs, the spread of box differences in pixels and of score
    differences ({'median', 'p95', 'max'}) and the number of label changes.
    """
    our_boxes, our_scores, our_labels = (np.asarray(part) for part in ours)
    their_boxes, their_scores, their_labels = (np.asarray(part) for part in theirs)
    their_boxes, our_boxes = (_clipped(boxes, width, height) for boxes in (their_boxes,
                                                                           our_boxes))
    paired = np.zeros(len(our_scores), dtype=bool)
    matched = np.zeros(len(our_scores), dtype=bool)
    box_errors, score_errors, label_changes, missing = [], [], 0, 0

    def borderline(score):
        return abs(float(score) - threshold) <= score_tolerance

    for index in np.argsort(-np.asarray(their_scores, np.float64)):
        free = ~paired
        if match_labels:
            free &= our_labels == their_labels[index]
        candidates = np.flatnonzero(free)
        if candidates.size == 0:
            missing += not borderline(their_scores[index])
            continue
        distance = np.abs(our_boxes[candidates] - their_boxes[index]).max(axis=1)
        best = candidates[int(np.argmin(distance))]
        paired[best] = True
        box_errors.append(float(distance.min()))
        score_errors.append(abs(float(our_scores[best]) - float(their_scores[index])))
        same_label = our_labels[best] == their_labels[index]
        label_changes += not same_label
        if same_label and box_errors[-1] <= box_tolerance \
                and score_errors[-1] <= score_tolerance:
            matched[best] = True
        else:
            missing += not borderline(their_scores[index])
    extra = sum(not borderline(score) for score in np.asarray(our_scores)[~matched])
    return {
        'ours': int(len(our_scores)), 'theirs': int(len(their_scores)),
        'matched': int(matched.sum()), 'theirs_not_in_ours': int(missing),
        'ours_not_in_theirs': int(extra), 'same_detections': missing == 0 and extra == 0,
        'tolerance': {'box_px': box_tolerance, 'score': score_tolerance},
        'box_error_px': _spread(box_errors, 3), 'score_error': _spread(score_errors, 5),
        'label_changes': int(label_changes),
    }


def _result_arrays(result):
    """(boxes, scores, labels) of a DetectionResult."""
    return result.boxes, result.scores, result.query_indices


def _transformers_arrays(result):
    """(boxes, scores, labels) of one post_process_grounded_object_detection result."""
    return (result['boxes'].float().cpu().numpy(), result['scores'].float().cpu().numpy(),
            result['labels'].cpu().numpy())


def _pipeline_arrays(outputs, queries):
    """(boxes, scores, labels) of the zero-shot-object-detection pipeline's output."""
    boxes = np.array([[o['box'][key] for key in ('xmin', 'ymin', 'xmax', 'ymax')]
                      for o in outputs], np.float64).reshape(-1, 4)
    return (boxes, np.array([o['score'] for o in outputs], np.float64),
            np.array([queries.index(o['label']) for o in outputs], np.int64))


class TransformersComparison:
    """
    This package's backend against transformers on one OWL-ViT folder, side by side.

    precisions: this package's precisions to run ('fp32', 'bf16', 'int8'...);
    transformers runs at each float precision among them (it has no int8 path of its
    own) and its pipeline at fp32. ``sides()`` gives the interleaved sides; after the
    timed runs ``agreement()`` compares the last detections of every side with
    transformers' at fp32 and at its own precision.
    """

    def __init__(self, folder, image, queries, threshold, device, precisions):
        import torch
        import transformers
        from PIL import Image

        self.image, self.queries, self.threshold = image, list(queries), float(threshold)
        self.height, self.width = image.shape[:2]
        self.device = device
        dtypes = {'fp32': torch.float32, 'bf16': torch.bfloat16, 'fp16': torch.float16}
        self.ours = {precision: load_model(folder, device=device, precision=precision,
                                           score_threshold=threshold, nms_iou=1.0,
                                           max_detections=1_000_000)
                     for precision in precisions}
        self.processor = transformers.AutoProcessor.from_pretrained(folder)
        self.theirs = {}
        for precision in precisions:
            if precision in dtypes:
                model = transformers.OwlViTForObjectDetection.from_pretrained(
                    folder, dtype=dtypes[precision])
                self.theirs[precision] = (model.to(self.ours[precision].device).eval(),
                                          dtypes[precision])
        fp32_model = self.theirs['fp32'][0] if 'fp32' in self.theirs else \
            transformers.OwlViTForObjectDetection.from_pretrained(folder).eval()
        self.pipeline = transformers.pipeline(
            'zero-shot-object-detection', model=fp32_model, tokenizer=self.processor.tokenizer,
            image_processor=self.processor.image_processor,
            device=self.ours[precisions[0]].device)
        self.pil_image = Image.fromarray(image)
        self.last = {}

    def _ours(self, precision):
        detector = self.ours[precision]

        def side():
            start = time.perf_counter()
            self.last[f'ours_{precision}'] = _result_arrays(
                detector.infer(self.image, self.queries))
            return {'frame': time.perf_counter() - start}
        return side

    def _theirs(self, precision):
        import torch
        model, dtype = self.theirs[precision]

        def side():
            # transformers' documented OWL-ViT inference, step by step.
            start = time.perf_counter()
            inputs = self.processor(text=[self.queries], images=self.image,
                                    return_tensors='pt').to(model.device)
            inputs['pixel_values'] = inputs['pixel_values'].to(dtype)
            with torch.no_grad():
                outputs = model(**inputs)
            result = self.processor.post_process_grounded_object_detection(
                outputs=outputs, threshold=self.threshold,
                target_sizes=[(self.height, self.width)], text_labels=[self.queries])[0]
            # On the host, as ours are (on CUDA this also waits for the GPU).
            self.last[f'transformers_{precision}'] = _transformers_arrays(result)
            return {'frame': time.perf_counter() - start}
        return side

    def _pipeline(self):
        def side():
            start = time.perf_counter()
            outputs = self.pipeline(self.pil_image, candidate_labels=self.queries,
                                    threshold=self.threshold)
            elapsed = time.perf_counter() - start
            self.last['transformers_pipeline_fp32'] = _pipeline_arrays(outputs, self.queries)
            return {'frame': elapsed}
        return side

    def sides(self):
        """Return {name: side}: ours_<precision>, transformers_<precision>, the pipeline."""
        sides = {f'ours_{precision}': self._ours(precision) for precision in self.ours}
        sides.update({f'transformers_{precision}': self._theirs(precision)
                      for precision in self.theirs})
        sides['transformers_pipeline_fp32'] = self._pipeline()
        return sides

    def agreement(self):
        """
        Compare the last detections of each side; returns {comparison: compare_detections}.

        'ours_P vs transformers_fp32' for every precision P, 'ours_P vs transformers_P'
        where transformers ran at P, and 'ours_fp32 vs transformers_pipeline_fp32'.
        The pipeline scores each query on its own, so it also lists patches under their
        other queries; there each of ours is paired with the nearest pipeline box of its
        label, and 'ours_not_in_theirs' 0 is what counts.
        """
        size = (self.width, self.height, self.threshold)
        found = {}
        reference = self.last.get('transformers_fp32')
        for precision in self.ours:
            ours = self.last[f'ours_{precision}']
            if reference is not None:
                found[f'ours_{precision} vs transformers_fp32'] = compare_detections(
                    ours, reference, *size)
            same = self.last.get(f'transformers_{precision}')
            if precision != 'fp32' and same is not None:
                found[f'ours_{precision} vs transformers_{precision}'] = compare_detections(
                    ours, same, *size)
        if 'ours_fp32' in self.last:
            # Seen from ours: the pipeline as 'ours' and ours as 'theirs', then swapped back.
            pipeline = compare_detections(
                self.last['transformers_pipeline_fp32'], self.last['ours_fp32'], *size,
                box_tolerance=PIPELINE_BOX_TOLERANCE_PX, match_labels=True)
            swap = {'ours': 'theirs', 'theirs': 'ours',
                    'theirs_not_in_ours': 'ours_not_in_theirs',
                    'ours_not_in_theirs': 'theirs_not_in_ours'}
            found['ours_fp32 vs transformers_pipeline_fp32'] = {
                swap.get(key, key): value for key, value in pipeline.items()}
        return found
