# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
Query phrases the way people say them, and what each phrase refers to.

A command such as ``"pick up the red circle, something purple"`` is split into
query phrases by the node (on commas and semicolons). Here a single phrase is
made from a target (a colour, a shape or both) with one of several everyday
templates, and a phrase is read back into its target: the colour word and the
shape word it contains. A colour-only phrase refers to every object of that
colour, a shape-only phrase to every object of that shape.
"""

import re
from typing import NamedTuple, Optional

from vlm_perception.world.vocabulary import COLOURS, SHAPES

PAIR_TEMPLATES = (
    '{colour} {shape}',
    'the {colour} {shape}',
    'a {colour} {shape}',
    'pick up the {colour} {shape}',
    'find a {colour} {shape}',
    'find the {colour} {shape}',
    'grab the {colour} {shape}',
    'where is the {colour} {shape}',
    'show me the {colour} {shape}',
    'look for a {colour} {shape}',
)
COLOUR_TEMPLATES = (
    '{colour}',
    'something {colour}',
    'anything {colour}',
    'the {colour} object',
    'the {colour} one',
    'pick up something {colour}',
    'find something {colour}',
    'a {colour} thing',
)
SHAPE_TEMPLATES = (
    '{shape}',
    'the {shape}',
    'a {shape}',
    'pick up the {shape}',
    'find a {shape}',
    'any {shape}',
    'where is the {shape}',
    'grab a {shape}',
)

_WORD = re.compile(r'[a-z]+')
# Word -> shape, with plurals ('stars', 'crosses') so 'find the stars' reads.
_SHAPE_WORDS = {**{shape: shape for shape in SHAPES},
                **{shape + ('es' if shape.endswith('s') else 's'): shape for shape in SHAPES}}


class Target(NamedTuple):
    """What a phrase asks for: a colour, a shape, or both (None = any)."""

    colour: Optional[str]
    shape: Optional[str]

    def matches(self, colour, shape):
        """Return True if an object of ``colour`` and ``shape`` is what this target asks for."""
        if self.colour is None and self.shape is None:
            return False
        return (self.colour in (None, colour)) and (self.shape in (None, shape))


def parse_phrase(phrase):
    """
    Read a query phrase into its :class:`Target`.

    The first colour word and the first shape word count; a phrase with
    neither (``'the thing'``) has the empty target, which matches nothing.
    """
    colour = shape = None
    for word in _WORD.findall(phrase.lower()):
        if colour is None and word in COLOURS:
            colour = word
        elif shape is None and word in _SHAPE_WORDS:
            shape = _SHAPE_WORDS[word]
    return Target(colour, shape)


def make_phrase(rng, colour=None, shape=None):
    """
    Say a target in one of the everyday templates, picked with ``rng``.

    ``rng`` is a numpy Generator; at least one of ``colour`` and ``shape`` is
    given. Returns e.g. ``'pick up the red circle'`` or ``'something red'``.
    """
    if colour is not None and shape is not None:
        templates = PAIR_TEMPLATES
    elif colour is not None:
        templates = COLOUR_TEMPLATES
    elif shape is not None:
        templates = SHAPE_TEMPLATES
    else:
        raise ValueError('a phrase needs a colour, a shape or both')
    template = templates[int(rng.integers(len(templates)))]
    return template.format(colour=colour, shape=shape)


def vocabulary_words():
    """Return every word the templates and the world's names can produce, sorted."""
    texts = [*PAIR_TEMPLATES, *COLOUR_TEMPLATES, *SHAPE_TEMPLATES]
    words = set()
    for text in texts:
        words.update(_WORD.findall(text.replace('{colour}', '').replace('{shape}', '')))
    words.update(COLOURS)
    words.update(_SHAPE_WORDS)
    return sorted(words)
