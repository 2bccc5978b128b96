# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
Training batches made on the fly from the tabletop world: images, query phrases and targets.

Each image is asked several queries, each said in a random everyday wording:
every target present (a pair, a colour alone, a shape alone) and, up to the
query budget, absent ones, the hard ones first (an absent pair that shares its
colour or its shape with something on the table: "red star" next to a red
circle). With a budget of at least every target of the world, every image is
asked everything, so each patch learns every colour-shape decision at once.
"""

from dataclasses import dataclass
from typing import List

import numpy as np
import torch

from vlm_perception.world import COLOURS, make_phrase, SceneGenerator, SHAPES
from vlm_perception.world.commands import Target


@dataclass
class TrainingBatch:
    """
    One batch for :func:`vlm_perception.training.loss.detection_loss`.

    pixel_values (B, 3, H, W) model input; phrases: the U distinct query
    strings; query_index (B, Q) int64 index into phrases; query_mask (B, Q)
    bool, True = real query; boxes (B, N, 4) cx, cy, w, h normalised to the
    model input; box_mask (B, N) bool; refers (B, Q, N) bool: query q means
    object n; object_labels (B, N, 2) int64: each object's colour and shape
    index in COLOURS and SHAPES; phrase_labels (U, 2) int64: the colour and
    shape each phrase names, len(COLOURS) / len(SHAPES) for none. Tensors are
    on the model's device; ``scenes`` keeps the source scenes (for inspection).
    """

    pixel_values: torch.Tensor
    phrases: List[str]
    query_index: torch.Tensor
    query_mask: torch.Tensor
    boxes: torch.Tensor
    box_mask: torch.Tensor
    refers: torch.Tensor
    object_labels: torch.Tensor
    phrase_labels: torch.Tensor
    scenes: list


def world_targets(pairs):
    """Every target a query can name: each pair given, then each colour and each shape alone."""
    return ([Target(colour, shape) for colour, shape in pairs]
            + [Target(colour, None) for colour in COLOURS]
            + [Target(None, shape) for shape in SHAPES])


def sample_queries(rng, objects, targets, budget):
    """
    Choose the query targets for one scene: the present ones, then hard and random absent ones.

    objects: the scene's SceneObjects; targets: the candidate :class:`Target`
    list (e.g. from :func:`world_targets`); budget: at most this many queries
    (present targets beyond it are dropped at random). Returns a list of
    Targets in random order.
    """
    present, hard, easy = [], [], []
    colours = {obj.colour for obj in objects}
    shapes = {obj.shape for obj in objects}
    for target in targets:
        if any(target.matches(obj.colour, obj.shape) for obj in objects):
            present.append(target)
        elif target.colour in colours or target.shape in shapes:
            hard.append(target)
        else:
            easy.append(target)
    chosen = []
    for group in (present, hard, easy):
        order = rng.permutation(len(group))
        chosen.extend(group[i] for i in order[:max(0, budget - len(chosen))])
    return [chosen[i] for i in rng.permutation(len(chosen))]


@dataclass
class AskedScene:
    """A scene and the queries asked of it: their targets and how each was worded."""

    scene: object
    targets: List[Target]
    phrases: List[str]


class BatchMaker:
    """
    Draws the scenes and queries of training batch ``n``, a pure function of (seed, n).

    All images of a batch share one frame size (drawn per batch), so they share
    the model input size and patch grid, as a single frame at inference does.
    Holds no model, so worker processes can run it; :func:`collate` then makes
    the tensors with the model's own preprocessing.
    """

    def __init__(self, seed, batch_size, queries_per_image, sizes, held_out):
        self.seed = int(seed)
        self.batch_size = int(batch_size)
        self.queries_per_image = int(queries_per_image)
        # Training reads only images and boxes: no depth to render.
        self.generators = [SceneGenerator(seed=self.seed * 1000 + i, sizes=(tuple(size),),
                                          held_out=held_out, split='train', depth=False)
                           for i, size in enumerate(sizes)]
        self.targets = world_targets(self.generators[0].pairs)

    def __call__(self, number):
        """Return the list of :class:`AskedScene` of batch ``number``."""
        rng = np.random.default_rng([self.seed, 7, number])
        generator = self.generators[int(rng.integers(len(self.generators)))]
        asked = []
        for i in range(self.batch_size):
            scene = generator.generate(number * self.batch_size + i)
            targets = sample_queries(rng, scene.objects, self.targets, self.queries_per_image)
            phrases = [make_phrase(rng, t.colour, t.shape) for t in targets]
            asked.append(AskedScene(scene, targets, phrases))
        return asked


def collate(model, asked):
    """
    Turn a list of :class:`AskedScene` (one frame size) into a :class:`TrainingBatch`.

    Images go through ``model.preprocess`` (exactly what inference does) onto
    the model's device; target boxes through the model's input geometry.
    """
    scenes = [item.scene for item in asked]
    pixel_values = model.preprocess([scene.image for scene in scenes])
    geometry = model.input_geometry(*scenes[0].image.shape[:2])
    num_queries = max(1, max(len(item.targets) for item in asked))
    num_objects = max(1, max(len(scene.objects) for scene in scenes))
    batch = len(asked)
    phrase_ids = {}
    query_index = torch.zeros(batch, num_queries, dtype=torch.int64)
    query_mask = torch.zeros(batch, num_queries, dtype=torch.bool)
    boxes = torch.zeros(batch, num_objects, 4)
    box_mask = torch.zeros(batch, num_objects, dtype=torch.bool)
    refers = torch.zeros(batch, num_queries, num_objects, dtype=torch.bool)
    object_labels = torch.zeros(batch, num_objects, 2, dtype=torch.int64)
    phrase_labels = {}
    for b, item in enumerate(asked):
        objects = item.scene.objects
        if objects:
            boxes[b, :len(objects)] = geometry.boxes_to_input([obj.box for obj in objects])
            box_mask[b, :len(objects)] = True
            object_labels[b, :len(objects)] = torch.tensor(
                [_label_pair(obj.colour, obj.shape) for obj in objects])
        for q, (target, phrase) in enumerate(zip(item.targets, item.phrases)):
            query_index[b, q] = phrase_ids.setdefault(phrase, len(phrase_ids))
            phrase_labels[phrase] = _label_pair(target.colour, target.shape)
            query_mask[b, q] = True
            for n, obj in enumerate(objects):
                refers[b, q, n] = target.matches(obj.colour, obj.shape)
    device = pixel_values.device
    phrase_labels = torch.tensor([phrase_labels[p] for p in phrase_ids],
                                 dtype=torch.int64).reshape(-1, 2)
    return TrainingBatch(pixel_values, list(phrase_ids), query_index.to(device),
                         query_mask.to(device), boxes.to(device), box_mask.to(device),
                         refers.to(device), object_labels.to(device), phrase_labels.to(device),
                         scenes)


def _label_pair(colour, shape):
    """Return (colour index, shape index); len(COLOURS) / len(SHAPES) stand for 'not named'."""
    return (list(COLOURS).index(colour) if colour else len(COLOURS),
            SHAPES.index(shape) if shape else len(SHAPES))


class _BatchNumbers(torch.utils.data.IterableDataset):
    """Batches first..last - 1 of a BatchMaker, split between DataLoader workers in turn."""

    def __init__(self, maker, first, last):
        super().__init__()
        self.maker, self.first, self.last = maker, first, last

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
        for number in range(self.first + worker, self.last, workers):
            yield self.maker(number)


def batch_stream(maker, first, last, workers=0):
    """
    Iterate over the AskedScene lists of batches first..last - 1, in order.

    With ``workers`` > 0 the scenes are drawn in that many processes ahead of
    training (the DataLoader returns worker outputs round-robin, so the order,
    and hence training, is the same as with none).
    """
    if workers <= 0:
        return (maker(number) for number in range(first, last))
    return iter(torch.utils.data.DataLoader(
        _BatchNumbers(maker, first, last), batch_size=None, num_workers=workers,
        prefetch_factor=4, persistent_workers=False))
