"""Retrieval configuration as data: saved in the index manifest when the index is built and read back when it is
opened, so an index answers the same way wherever it is loaded (and `qa eval` records what it measured).

Defaults were chosen on the xquad-dev benchmark (README, "Retrieval"); any of them can be set per index.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from qa.errors import InvalidArgumentError

FUSION_MODES = ("convex", "rrf")
LEXICAL_SCALES = ("question", "best")


@dataclass(frozen=True)
class FusionSettings:
    """How the three signals of a passage become one score.

    Signals: the passage's cosine with the question (`dense`), the cosine of its best sentence (`sentence`: a
    sentence that answers is a sharper match than a long passage, and it matters most across languages) and BM25
    (`lexical`, scaled by `lexical_scale`). The lexical weight may differ by whether question and passage share a
    language: across languages only names, numbers and Latin-script terms can match.

    Lexical scales: "question" divides BM25 by what the question itself can score (`qa.retrieval.fusion`), so a
    passage matching only its common words stays low whatever else is found; "best" (the rule before) divides by
    the best candidate's BM25, which hands the whole bonus to the best match even when it matches only common words:
    in an index where a question's own article is in the other language, passages of other articles in the
    question's language then took it (README, "Each fact in one language").

    Modes: "convex" adds the weighted signals; "rrf" (reciprocal rank fusion) adds weight / (rrf_k + rank) of each
    signal's ranking, which ignores the signals' scales.
    """

    mode: str = "convex"
    # Fitted on the dev benchmark by `scripts/fit_fusion.py` (cross-validated by article; README, "Fusion").
    dense_weight: float = 0.4
    sentence_weight: float = 0.6
    lexical_weight_same_language: float = 0.1
    lexical_weight_cross_language: float = 0.05
    lexical_scale: str = "question"
    rrf_k: int = 60

    def __post_init__(self) -> None:
        if self.mode not in FUSION_MODES:
            raise InvalidArgumentError(f"Unknown fusion mode {self.mode!r}: use one of {', '.join(FUSION_MODES)}.")
        if self.lexical_scale not in LEXICAL_SCALES:
            raise InvalidArgumentError(f"Unknown lexical scale {self.lexical_scale!r}: use one of "
                                       f"{', '.join(LEXICAL_SCALES)}.")
        weights = (self.dense_weight, self.sentence_weight, self.lexical_weight_same_language,
                   self.lexical_weight_cross_language)
        if any(not isinstance(w, (int, float)) or w < 0 for w in weights) or not any(weights):
            raise InvalidArgumentError(f"Fusion weights must be numbers ≥ 0, not all zero; got {weights}.")
        if not isinstance(self.rrf_k, int) or self.rrf_k < 1:
            raise InvalidArgumentError(f"rrf_k must be a whole number ≥ 1, got {self.rrf_k!r}.")

    def lexical_weight(self, same_language: bool) -> float:
        return self.lexical_weight_same_language if same_language else self.lexical_weight_cross_language


@dataclass(frozen=True)
class RetrievalSettings:
    candidates: int = 50  # passages taken from each of dense search and BM25 before fusion
    fusion: FusionSettings = field(default_factory=FusionSettings)

    def __post_init__(self) -> None:
        if not isinstance(self.candidates, int) or self.candidates < 1:
            raise InvalidArgumentError(f"candidates must be a whole number ≥ 1, got {self.candidates!r}.")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "RetrievalSettings":
        """Settings saved by `to_dict`; missing keys take today's defaults, unknown keys are an error."""
        data = dict(data or {})
        fusion = dict(data.pop("fusion", None) or {})
        _check_keys(cls, data, "retrieval")
        _check_keys(FusionSettings, fusion, "fusion")
        return cls(**data, fusion=FusionSettings(**fusion))


def _check_keys(kind: type, data: dict[str, Any], label: str) -> None:
    unknown = set(data) - {f.name for f in fields(kind)}
    if unknown:
        raise InvalidArgumentError(f"Unknown {label} setting(s): {', '.join(sorted(unknown))}.")
