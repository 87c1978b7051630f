"""A five-minute recording of real speech for the long-file case, with its script.

Piper reads a talk sentence by sentence; the pauses between sentences vary as a speaker's do
(short between sentences of a thought, longer between paragraphs, a few seconds where the
speaker looks at the notes), so the VAD has real silence to find. The file is made once and
kept under ``var/benchmarks/`` (outside git); the script is the reference for the word error rate.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fixtures import wer
from fixtures.speech import encode, speech

CACHE = Path(__file__).resolve().parents[2] / "var" / "benchmarks"

# Paragraphs of a talk; sentences within a paragraph are read with short pauses.
TALK: tuple[tuple[str, ...], ...] = (
    (
        "Good afternoon, and thank you all for coming to this talk about the history of the river.",
        "Before we begin, please make sure your phones are set to silent.",
        "I will speak for a little while, and then we can take a few questions.",
    ),
    (
        "The river starts high in the mountains, where the snow melts every spring.",
        "Small streams join together in the valleys and become a wide and steady current.",
        "For thousands of years, people have lived along its banks and used its water.",
        "Farmers grew wheat and barley in the fields that the floods made rich.",
    ),
    (
        "In the old town, the first bridge was built from wood and stone.",
        "It was washed away many times, and each time the people built it again.",
        "Later, engineers designed a strong iron bridge that still stands today.",
        "You can walk across it on your way to the market on the other side.",
    ),
    (
        "Trade on the river made the town rich during the middle ages.",
        "Boats carried salt, wool and timber down to the sea.",
        "Merchants built large houses near the harbour, and many of them are now museums.",
        "If you visit on a weekend, the guides will show you the old cellars and the painted ceilings.",
    ),
    (
        "Of course, the river has not always been kind to the people who live beside it.",
        "Great floods destroyed homes and farms, and some years the harvest was lost completely.",
        "After a terrible flood, the town decided to build walls and channels to control the water.",
        "These works took many years to finish, but they protected the town for a long time.",
    ),
    (
        "Today, the river faces new problems.",
        "Factories and farms send chemicals into the water, and the fish have become rare.",
        "Warmer summers mean that the river is lower and slower than it used to be.",
        "Scientists measure the water every week to understand how it is changing.",
    ),
    (
        "There is also good news to share with you.",
        "Volunteers have planted trees along the banks to give shade and to hold the soil.",
        "Children from the local schools help to clean the paths and count the birds.",
        "Last year, for the first time in decades, salmon were seen swimming up the river again.",
    ),
    (
        "What can each of us do to help?",
        "We can use less water at home, especially during the dry months.",
        "We can choose products that do not harm the environment.",
        "And we can join the groups that care for the river and its wildlife.",
    ),
    (
        "Let me tell you a short story about my grandmother.",
        "She grew up in a small house near the mill, and every morning she walked to the river to fetch water.",
        "She told me that the water was so clear that she could see the stones at the bottom.",
        "I would like my own children to see the river as she did.",
    ),
    (
        "Many of you have asked me about the old mill, so let me say a few words about it.",
        "The mill was built by a family of bakers who needed flour for their bread.",
        "The great wheel turned day and night, and the sound could be heard across the fields.",
        "When the railway arrived, cheaper flour came from the cities and the mill slowly fell silent.",
        "A group of friends bought the building many years ago and repaired the wheel by hand.",
    ),
    (
        "Now the mill is open to visitors every summer.",
        "You can watch the wheel turn, grind a little flour yourself and taste fresh bread from the oven.",
        "The money from the tickets pays for the repairs and for the lessons given to school classes.",
        "Last summer, more visitors than ever before came to see it.",
    ),
    (
        "The river is also a wonderful place for a quiet walk.",
        "In the early morning, you may see herons standing still in the shallow water.",
        "In the autumn, the leaves turn red and gold, and the mist rises slowly from the surface.",
        "In the winter, when it is very cold, the edges of the river sometimes freeze.",
        "Please take care on the paths, because they can be slippery after the rain.",
    ),
    (
        "The city council has now approved a new plan for the coming years.",
        "It includes cleaner drains, more green spaces and a network of paths for walking and cycling.",
        "The plan also protects the wetlands, which are home to frogs, ducks and rare plants.",
        "Everyone will be able to read the plan on the council website and share their opinion.",
    ),
    (
        "Before I finish, I want to thank the people who made this talk possible.",
        "The library lent us this room, and the historical society shared their old maps and photographs.",
        "Without their help, I could not have told you this story.",
    ),
    (
        "To sum up, the river has shaped our town for centuries.",
        "It gave us food, trade and beauty, and it also taught us to respect its power.",
        "Now it is our turn to look after it, so that it can continue to give life to the valley.",
        "Thank you very much for listening, and I am happy to answer your questions now.",
    ),
)

# Seconds of silence after each sentence (cycled), and after each paragraph (cycled).
SENTENCE_PAUSES = (0.5, 0.8, 0.6, 1.1, 0.4)
PARAGRAPH_PAUSES = (2.0, 3.5, 1.6, 5.0)


def script() -> str:
    """What is said, in order: the reference transcript."""
    return " ".join(sentence for paragraph in TALK for sentence in paragraph)


def word_error_rate(hypothesis: str) -> float:
    return wer.word_error_rate(script(), hypothesis)


def _samples() -> tuple[np.ndarray, int]:
    parts: list[np.ndarray] = []
    rate = 22050
    count = 0
    for index, paragraph in enumerate(TALK):
        for position, sentence in enumerate(paragraph):
            samples, rate = speech(sentence)
            parts.append(samples)
            last = position == len(paragraph) - 1
            pause = PARAGRAPH_PAUSES[index % len(PARAGRAPH_PAUSES)] if last else SENTENCE_PAUSES[count % 5]
            parts.append(np.zeros(int(pause * rate), dtype=np.float32))
            count += 1
    return np.concatenate(parts), rate


def long_clip(container: str = "wav") -> Path:
    """The talk as a file (made on first use, then reused from ``var/benchmarks/``)."""
    path = CACHE / f"talk.{container}"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        samples, rate = _samples()
        partial = path.with_suffix(".partial")
        encode(samples, rate, partial, container)
        partial.rename(path)
    return path
