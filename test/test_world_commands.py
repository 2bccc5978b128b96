# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""Query phrases: the everyday wordings parse back to what they ask for."""

import numpy as np
import pytest
from vlm_perception.world import make_phrase, parse_phrase, Scene, SceneObject, Target
from vlm_perception.world.commands import (COLOUR_TEMPLATES, PAIR_TEMPLATES, SHAPE_TEMPLATES,
                                           vocabulary_words)
from vlm_perception.world.vocabulary import all_pairs, COLOURS, SHAPES


@pytest.mark.parametrize('phrase, target', [
    ('red circle', ('red', 'circle')),
    ('the blue square', ('blue', 'square')),
    ('pick up the yellow triangle', ('yellow', 'triangle')),
    ('find a green star', ('green', 'star')),
    ('The Triangle', (None, 'triangle')),
    ('something purple', ('purple', None)),
    ('find the crosses', (None, 'cross')),
    ('the thing', (None, None)),
])
def test_issue_examples_parse(phrase, target):
    assert parse_phrase(phrase) == Target(*target)


def test_every_template_says_its_target():
    for colour, shape in all_pairs():
        for template in PAIR_TEMPLATES:
            assert parse_phrase(template.format(colour=colour, shape=shape)) == (colour, shape)
    for colour in COLOURS:
        for template in COLOUR_TEMPLATES:
            assert parse_phrase(template.format(colour=colour)) == (colour, None)
    for shape in SHAPES:
        for template in SHAPE_TEMPLATES:
            assert parse_phrase(template.format(shape=shape)) == (None, shape)


def test_make_phrase_uses_several_templates_and_needs_a_target():
    rng = np.random.default_rng(0)
    phrases = {make_phrase(rng, 'red', 'star') for _ in range(50)}
    assert len(phrases) > 5 and all(parse_phrase(p) == ('red', 'star') for p in phrases)
    with pytest.raises(ValueError):
        make_phrase(rng)


def test_colour_only_and_shape_only_phrases_refer_to_every_match():
    objects = [SceneObject('red', 'circle', (0, 0, 10, 10)),
               SceneObject('red', 'star', (20, 0, 30, 10)),
               SceneObject('blue', 'star', (40, 0, 50, 10))]
    scene = Scene(np.zeros((20, 60, 3), np.uint8), objects, 0)
    assert scene.referred('something red') == [0, 1]
    assert scene.referred('find a star') == [1, 2]
    assert scene.referred('the blue star') == [2]
    assert scene.referred('green square') == []


def test_vocabulary_covers_every_template_word():
    words = set(vocabulary_words())
    assert {'pick', 'up', 'something', 'stars', 'purple', 'cross'} <= words
    assert not any('{' in word for word in words)
