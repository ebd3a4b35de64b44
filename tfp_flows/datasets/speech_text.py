"""Seeded English sentences from templates and a word list shipped with the package.

The text side of the speech corpus (:mod:`tfp_flows.datasets.speech`): short
declarative sentences such as "the quiet farmer found a yellow kettle." made
from eight templates and a word list of 167 common words
(determiners, adjectives, nouns, verbs in the past tense, adverbs,
prepositions). Sentence ``i`` of seed ``s`` is a pure function of ``(s, i)``:
NumPy's ``Generator(PCG64([s, i]))`` picks the template, then each word.

#### Examples

>>> template_sentences(3, seed=0) == template_sentences(3, seed=0)
True
>>> all(s.endswith(".") and s[0].isupper() for s in template_sentences(5, seed=1))
True
"""

from __future__ import annotations

import numpy as np

from tfp_flows._internal.checks import check_integer

__all__ = ["SPEECH_TEMPLATES", "SPEECH_WORDS", "template_sentences"]

_WORDS = {
    "det": ("the a one that this every my your her his"),
    "adj": (
        "small big red green blue yellow quiet loud happy sad old young quick slow "
        "bright dark warm cold soft heavy clever lazy brave gentle tiny huge funny "
        "strange busy empty sweet bitter clean muddy silver golden wooden round"
    ),
    "noun": (
        "cat dog bird horse fox mouse farmer teacher doctor child sailor baker king "
        "queen girl boy apple kettle window garden river mountain table chair letter "
        "basket candle bottle engine pencil lamp boat train clock bridge flower rabbit "
        "turtle singer painter robot village castle forest island market ladder pocket "
        "button blanket"
    ),
    "verb": (
        "found saw liked painted carried opened closed cleaned watched followed called "
        "moved pushed pulled helped dropped lifted washed fixed chased visited counted "
        "cooked bought sold kept touched noticed remembered wanted"
    ),
    "intransitive": (
        "slept laughed waited danced smiled jumped listened whispered shouted rested "
        "travelled wandered sang swam fell"
    ),
    "adverb": (
        "quickly slowly quietly loudly happily sadly gently carefully suddenly often "
        "today yesterday again together early late"
    ),
    "prep": ("near under behind beside above inside across around"),
}
SPEECH_WORDS: dict[str, tuple[str, ...]] = {
    part: tuple(words.split()) for part, words in _WORDS.items()
}
"""The shipped word list, by part of speech (lower case, every word spelt the same in US and
British English)."""

SPEECH_TEMPLATES: tuple[str, ...] = (
    "{det} {adj} {noun} {verb} {det} {noun}.",
    "{det} {noun} {verb} {det} {adj} {noun}.",
    "{det} {adj} {noun} {intransitive} {adverb}.",
    "{det} {noun} {intransitive} {prep} {det} {noun}.",
    "{det} {noun} {adverb} {verb} {det} {noun}.",
    "{det} {adj} {noun} {intransitive}.",
    "{det} {noun} {verb} {det} {noun} {prep} {det} {noun}.",
    "{det} {adj} {adj} {noun} {intransitive}.",
)
"""Sentence templates; each ``{part}`` is filled with a word of that part of speech."""


def _sentence(seed: int, index: int) -> str:
    rng = np.random.Generator(np.random.PCG64([seed, index]))
    template = SPEECH_TEMPLATES[rng.integers(len(SPEECH_TEMPLATES))]
    words = []
    for piece in template.rstrip(".").split():
        part = piece.strip("{}")
        choices = SPEECH_WORDS[part]
        words.append(choices[rng.integers(len(choices))])
    text = " ".join(words) + "."
    return text[0].upper() + text[1:]


def template_sentences(count: int, seed: int = 0) -> list[str]:
    """``count`` distinct sentences, the same for the same ``(count, seed)`` on every machine.

    Sentences are drawn one index at a time (``_sentence(seed, i)`` for ``i = 0, 1, ...``) and
    a repeat of an earlier sentence is skipped, so the first ``k`` sentences of a longer list
    are the list of ``k``.

    Args:
      count: number of sentences (at least 1).
      seed: integer seed.
    """
    count = check_integer("template_sentences: count", count, minimum=1)
    seed = check_integer("template_sentences: seed", seed, minimum=0)
    sentences: list[str] = []
    seen: set[str] = set()
    index = 0
    while len(sentences) < count:
        text = _sentence(seed, index)
        index += 1
        if text not in seen:
            seen.add(text)
            sentences.append(text)
        if index > 100 * count + 1000:
            raise RuntimeError(f"template_sentences: could not find {count} distinct sentences.")
    return sentences
