"""The reader's tokenizer, quick to load: the base model's own normaliser and pre-tokeniser (the `tokenizers`
library's, built from its tokenizer.json) with the Unigram segmentation done here, over a plain dict.

Why not `tokenizers.Tokenizer.from_file`: building its Unigram model of 250,002 pieces takes 0.85 s and 260 MB,
more than the rest of a cold `qa ask`. The segmentation below is the library's (`Unigram::encode`: Viterbi over
the pieces' log-probabilities, the first of equal-scoring paths, an unknown character scored 10 below the rarest
piece, neighbouring unknowns fused); tests/test_reader_tokenizer.py checks it gives the same ids and offsets.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_UNK_PENALTY = 10.0


@dataclass(frozen=True)
class Encoding:
    ids: list[int]
    offsets: list[tuple[int, int]]  # characters of the original text


PIECES_FILE = "reader-pieces.json"  # the Unigram pieces, by id (a flat list of strings loads fast)
SCORES_FILE = "reader-scores.npy"  # their log-probabilities
STEPS_FILE = "reader-pretokenizer.json"  # tokenizer.json with an empty model: normaliser and pre-tokeniser only


def write_tokenizer_files(tokenizer_json: Path, folder: Path) -> None:
    """Split the base model's tokenizer.json into the three files `ReaderTokenizer` loads (at export time)."""
    data = json.loads(Path(tokenizer_json).read_text(encoding="utf-8"))
    model = data["model"]
    if model.get("type") != "Unigram" or model.get("byte_fallback"):
        raise ValueError(f"{tokenizer_json}: the reader's tokenizer must be a Unigram model without byte fallback")
    vocab = model["vocab"]
    (folder / PIECES_FILE).write_text(json.dumps({"unk_id": model["unk_id"], "pieces": [p for p, _ in vocab]},
                                                 ensure_ascii=False), encoding="utf-8")
    np.save(folder / SCORES_FILE, np.array([score for _, score in vocab], dtype=np.float64))
    data["model"] = {"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0]], "byte_fallback": False}
    (folder / STEPS_FILE).write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


class ReaderTokenizer:
    """`encode_batch(texts)` → ids and character offsets, as `Tokenizer.encode_batch(texts,
    add_special_tokens=False)` gives them."""

    def __init__(self, folder: Path) -> None:
        from tokenizers import Tokenizer

        folder = Path(folder)
        stored = json.loads((folder / PIECES_FILE).read_text(encoding="utf-8"))
        pieces, self.unk_id = stored["pieces"], int(stored["unk_id"])
        self.scores = np.load(folder / SCORES_FILE).tolist()
        self.ids: dict[str, int] = dict(zip(pieces, range(len(pieces))))
        steps = Tokenizer.from_file(str(folder / STEPS_FILE))
        self.normalizer, self.pre_tokenizer = steps.normalizer, steps.pre_tokenizer
        self.unk_score = min(self.scores) - _UNK_PENALTY
        self.longest = max(map(len, pieces))

    def token_to_id(self, token: str) -> int | None:
        return self.ids.get(token)

    def encode_batch(self, texts: list[str], add_special_tokens: bool = False) -> list[Encoding]:
        if add_special_tokens:
            raise ValueError("the reader adds its special tokens itself (qa.reader.windows)")
        return [self.encode(text) for text in texts]

    def encode(self, text: str) -> Encoding:
        from tokenizers import PreTokenizedString

        pretokenized = PreTokenizedString(text)
        if self.normalizer is not None:
            pretokenized.normalize(self.normalizer.normalize)
        if self.pre_tokenizer is not None:
            self.pre_tokenizer.pre_tokenize(pretokenized)
        ids: list[int] = []

        def into_pieces(_: int, normalized) -> list:
            # each piece a slice of the normalised string, which keeps its alignment to the original text
            pieces = self.viterbi(normalized.normalized)
            ids.extend(piece for _, _, piece in pieces)
            return [normalized.slice((start, end)) for start, end, _ in pieces]

        pretokenized.split(into_pieces)
        offsets = [span for _, span, _ in pretokenized.get_splits(offset_referential="original", offset_type="char")]
        return Encoding(ids, offsets)

    def viterbi(self, word: str) -> list[tuple[int, int, int]]:
        """(start, end, id) of the best segmentation of `word` into pieces."""
        n = len(word)
        score = [0.0] + [-np.inf] * n
        back: list[tuple[int, int] | None] = [None] * (n + 1)
        ids, scores, longest = self.ids, self.scores, self.longest
        for start in range(n):
            here = score[start]
            single = False
            for end in range(start + 1, min(n, start + longest) + 1):
                piece = ids.get(word[start:end])
                if piece is None:
                    continue
                candidate = here + scores[piece]
                if back[end] is None or candidate > score[end]:
                    score[end], back[end] = candidate, (start, piece)
                single = single or end == start + 1
            if not single:
                candidate = here + self.unk_score
                if back[start + 1] is None or candidate > score[start + 1]:
                    score[start + 1], back[start + 1] = candidate, (start, self.unk_id)
        out: list[tuple[int, int, int]] = []
        end = n
        while end > 0:
            start, piece = back[end]
            if piece == self.unk_id and out and out[-1][2] == self.unk_id:
                out[-1] = (start, out[-1][1], piece)  # fuse neighbouring unknowns
            else:
                out.append((start, end, piece))
            end = start
        return out[::-1]
