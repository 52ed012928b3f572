"""Whether the extractive answerer (the fallback without a reader) answers: a small logistic model over two signals.

One score alone cannot tell "the documents say this" from "the documents talk about something like this":
cross-lingual cosines of near misses and of real answers overlap. So the confidence that the chosen sentence
answers combines:
- `sentence`: the chosen sentence's score (its cosine with the question plus the answerer's bonuses);
- `margin`: how far the best passage leads the second (a question the corpus answers usually has one clear place).
Weights are fitted per case (question and passage in one language, or in two) by `scripts/calibrate_abstention.py`
on the xquad-dev benchmark with half its articles left out of the index; the threshold
(`AnswerSettings.min_confidence`) is read off the risk–coverage curve (README, "Abstention").

Tried and dropped: the share of the question's words (and two-word phrases) found anywhere in the corpus. It
helped nothing on xquad-dev once the margin was in, and it depends on the corpus's size: on the one-article seed
it sank the Vietnamese questions answered from 0.90 to 0.63.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class AbstentionWeights:
    bias: float
    sentence: float
    margin: float

    def confidence(self, sentence: float, margin: float) -> float:
        """The fitted probability that the chosen answer is right."""
        z = self.bias + self.sentence * sentence + self.margin * margin
        return 1 / (1 + math.exp(-max(min(z, 50.0), -50.0)))


# Fitted by scripts/calibrate_abstention.py on xquad-dev (holdout 0.5, seed 1); 567 questions each, 217 and 170 of them
# positive. Every dev article was in that fit (the holdout only decides which questions count as out of the
# documents), so `make bench-quality`'s figures for this answerer are in-sample. It is the fallback now: the
# reading answerer (qa.answer.reading) answers wherever the reader is installed, calibrated by article-held-out folds.
SAME_LANGUAGE = AbstentionWeights(bias=-28.628, sentence=24.664, margin=5.810)
CROSS_LANGUAGE = AbstentionWeights(bias=-20.978, sentence=20.220, margin=29.325)
