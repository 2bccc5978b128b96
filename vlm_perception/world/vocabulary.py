# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
The words of the tabletop world: its colours, its shapes and the held-out pairs.

Every other part (the renderer, the command phrases, training and evaluation)
takes these names from here, so adding a colour or a shape is one edit.
"""

# Colour name -> (hue range in degrees, saturation range, value range) the
# renderer samples from, chosen so that neighbouring names (red/orange/yellow,
# blue/purple) stay apart under the world's lighting and white-balance changes.
# Hue ranges may start below 0 (red wraps around).
COLOUR_HSV = {
    'red': ((-7.0, 5.0), (0.72, 1.0), (0.55, 0.95)),
    'green': ((100.0, 145.0), (0.55, 1.0), (0.42, 0.85)),
    'blue': ((205.0, 235.0), (0.6, 1.0), (0.5, 0.95)),
    'yellow': ((49.0, 60.0), (0.7, 1.0), (0.82, 1.0)),
    'orange': ((20.0, 31.0), (0.8, 1.0), (0.85, 1.0)),
    'purple': ((268.0, 295.0), (0.45, 0.85), (0.45, 0.85)),
    'white': ((0.0, 360.0), (0.0, 0.07), (0.88, 1.0)),
    'black': ((0.0, 360.0), (0.0, 0.3), (0.03, 0.17)),
}

# Colour name -> a typical RGB value (for legends, demos and documentation).
COLOURS = {
    'red': (220, 30, 25),
    'green': (40, 160, 60),
    'blue': (30, 70, 215),
    'yellow': (245, 220, 30),
    'orange': (250, 130, 20),
    'purple': (130, 50, 170),
    'white': (245, 245, 245),
    'black': (20, 20, 20),
}

SHAPES = ('circle', 'square', 'triangle', 'star', 'cross')

# Colour-shape pairs that never appear in training, neither as an object nor
# as a query, so evaluation can tell composition from memorised pairs. One
# per shape, each with a different colour, so every colour and every shape is
# still seen in training with other partners.
HELD_OUT_PAIRS = (
    ('red', 'star'),
    ('green', 'cross'),
    ('blue', 'triangle'),
    ('yellow', 'circle'),
    ('purple', 'square'),
)


def all_pairs():
    """Return every (colour, shape) pair of the world, colours outer, in a fixed order."""
    return [(colour, shape) for colour in COLOURS for shape in SHAPES]


def pair_name(colour, shape):
    """Return the canonical name of a pair, e.g. ``'red circle'``."""
    return f'{colour} {shape}'
