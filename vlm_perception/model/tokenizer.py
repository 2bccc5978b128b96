# Copyright 2026 The vlm_perception Authors
# SPDX-License-Identifier: Apache-2.0
"""
A lower-cased word-level tokenizer for the native model, saved as one JSON file.

Text is lower-cased and split into runs of letters/digits and single punctuation marks;
each piece is looked up in a fixed vocabulary ([UNK] when absent). Every sequence is
``[CLS] tokens... [EOS]``, truncated to ``max_length`` tokens, and a batch is padded with
[PAD] (id 0) to its longest member. Only the first ``max_length`` words of a string are
ever looked at, so a 10,000-character command costs no more than a short one.
"""

import json
import os
import re

import torch

PAD, UNK, CLS, EOS = '[PAD]', '[UNK]', '[CLS]', '[EOS]'
SPECIAL_TOKENS = (PAD, UNK, CLS, EOS)
TOKENIZER_FILE = 'tokenizer.json'
_WORD = re.compile(r'[a-z0-9]+|[^\sa-z0-9]')

# A general vocabulary for tabletop scenes: colours, shapes, common objects, materials,
# sizes and spatial words. Training code may build its own with ``from_texts``.
DEFAULT_WORDS = tuple("""
a an the of with and or on in at to near next left right top bottom front back behind
above below under over between middle center centre corner edge side small large big
little tiny huge tall short long wide narrow round flat thin thick light dark bright pale
red green blue yellow orange purple violet pink brown black white grey gray cyan magenta
teal navy olive maroon lime gold silver beige turquoise indigo
circle disc disk ring square rectangle triangle star cross plus hexagon pentagon octagon
diamond rhombus ellipse oval heart arrow crescent moon shape shapes object objects thing
box cube sphere ball cylinder cone block brick tile
cup mug glass bottle can jar bowl plate dish fork knife spoon pen pencil marker book
notebook paper phone keyboard mouse laptop screen remote key keys wallet bag toy tennis
apple banana orange lemon lime fruit sponge towel cloth scissors tape stapler clock lamp
hand person robot gripper tool table desk chair
plastic metal wooden wood paper glass rubber striped dotted empty full open closed
""".split())


class VLMTokenizer:
    """
    Word-level tokenizer: ``tok(list_of_str)`` gives input_ids and attention_mask.

    ``tok(texts)`` returns ``dict(input_ids=(N, L) int64, attention_mask=(N, L) int64)``
    with L = the longest sequence in the batch (at most ``max_length``), [PAD] = 0.
    """

    def __init__(self, vocab, max_length=16):
        vocab = list(vocab)
        if tuple(vocab[:len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
            raise ValueError(f'vocabulary must start with {SPECIAL_TOKENS}')
        if len(set(vocab)) != len(vocab):
            raise ValueError('vocabulary has duplicate tokens')
        if max_length < 2:
            raise ValueError('max_length must leave room for [CLS] and [EOS]')
        self.vocab = vocab
        self.max_length = int(max_length)
        self.token_to_id = {token: index for index, token in enumerate(vocab)}
        self.pad_id, self.unk_id, self.cls_id, self.eos_id = range(len(SPECIAL_TOKENS))

    @classmethod
    def from_texts(cls, texts, max_length=16, include_default=True):
        """Build a vocabulary from the words in ``texts`` (plus DEFAULT_WORDS)."""
        words = list(DEFAULT_WORDS) if include_default else []
        for text in texts:
            words.extend(_WORD.findall(text.lower()))
        return cls(SPECIAL_TOKENS + tuple(dict.fromkeys(words)), max_length)

    @classmethod
    def default(cls, max_length=16):
        """Return the tokenizer over DEFAULT_WORDS."""
        return cls.from_texts([], max_length)

    def __len__(self):
        return len(self.vocab)

    def tokenize(self, text):
        """Return the words of ``text`` the model sees (lower-cased, at most max_length - 2)."""
        words = []
        for match in _WORD.finditer(text.lower()):
            if len(words) == self.max_length - 2:
                break
            words.append(match.group())
        return words

    def encode(self, text):
        """Return the token ids of one string: [CLS] ids... [EOS]."""
        ids = [self.token_to_id.get(word, self.unk_id) for word in self.tokenize(text)]
        return [self.cls_id] + ids + [self.eos_id]

    def __call__(self, texts):
        """
        Tokenize a list of strings.

        Returns dict(input_ids=(N, L) int64, attention_mask=(N, L) int64), padded with 0.
        """
        if isinstance(texts, str):
            texts = [texts]
        encoded = [self.encode(text) for text in texts]
        length = max((len(ids) for ids in encoded), default=2)
        input_ids = torch.full((len(encoded), length), self.pad_id, dtype=torch.int64)
        attention_mask = torch.zeros((len(encoded), length), dtype=torch.int64)
        for row, ids in enumerate(encoded):
            input_ids[row, :len(ids)] = torch.tensor(ids, dtype=torch.int64)
            attention_mask[row, :len(ids)] = 1
        return {'input_ids': input_ids, 'attention_mask': attention_mask}

    def save_pretrained(self, directory):
        """Write ``tokenizer.json`` into ``directory`` (created if needed)."""
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, TOKENIZER_FILE), 'w', encoding='utf-8') as stream:
            json.dump({'type': 'vlm_perception.word_level', 'max_length': self.max_length,
                       'vocab': self.vocab}, stream, indent=0)

    @classmethod
    def from_pretrained(cls, directory):
        """Read ``tokenizer.json`` from ``directory``."""
        with open(os.path.join(directory, TOKENIZER_FILE), encoding='utf-8') as stream:
            data = json.load(stream)
        return cls(data['vocab'], data['max_length'])
