"""The reader at answer time: ONNX Runtime and the tokenizer, no torch.

`Reader.read(question, texts)` reads each text (in overlapping windows when it is long) and returns its best
answer span with the model's scores: the span's start + end logits and the "no answer" score (the <s> token's
start + end logits, from the window most sure there is none). Scores are the model's raw logits; turning them
into a decision is the answerer's job (`qa.answer.reading`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.reader import DEFAULT_PRECISION
from qa.reader.vectors import WordVectors
from qa.reader.windows import MAX_TOKENS, OVERLAP, Window, question_ids, special_ids, tokenize, windows

MAX_ANSWER_TOKENS = 30
MODEL_FILE = "reader.onnx"  # int8
FP32_FILE = "reader.fp32.onnx"
EMBEDDINGS_FILE = "reader-embeddings.npy"  # the word vectors, fp16, read by row (qa.reader.vectors)
TOKENIZER_FILE = "tokenizer.json"  # the base model's, as training read it (qa.reader.tokenizer loads it faster)
_EDGE = " \t\n\r.,;:!?\"'“”‘’()[]{}«»…–—-"


@dataclass(frozen=True)
class Span:
    """The best answer a text holds, as the reader scores it."""

    text: int  # which of the texts read
    start: int  # character offsets into that text
    end: int
    score: float  # start + end logits of the span
    no_answer: float  # the text's "no answer" score (lowest over its windows)

    @property
    def lead(self) -> float:
        """How far the span beats "no answer": the reader's own answerability signal."""
        return self.score - self.no_answer


class Reader:
    """One loaded reading model; thread-safe (ONNX Runtime sessions are), one instance serves many questions."""

    def __init__(self, folder: Path, threads: int | None = None, precision: str = DEFAULT_PRECISION) -> None:
        import onnxruntime as ort

        from qa.reader.tokenizer import ReaderTokenizer

        self.folder = Path(folder)
        self.tokenizer = ReaderTokenizer(self.folder)
        self.cls, self.sep = special_ids(self.tokenizer)
        options = ort.SessionOptions()
        # The graphs are fused at export (qa.reader.export), so the extended passes find nothing more to do: basic
        # gives bit-identical logits and starts the fp32 session 19 ms sooner (README, "The fp32 graph").
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.intra_op_num_threads = threads or min(4, os.cpu_count() or 1)
        if precision == "fp32":
            # Prepacking keeps a second, repacked copy of every fp32 weight matrix: without it the session holds
            # 40 MiB less, opens 0.14 s sooner and gives the same spans, reading 3-4 % slower (README, "Memory:
            # the fp32 session without prepacking"). The int8 graph keeps it: without it its kernels move the spans.
            options.add_session_config_entry("session.disable_prepacking", "1")
        self.embeddings = WordVectors(self.folder / EMBEDDINGS_FILE)
        self.precision = precision
        self.model_file = self.folder / {"int8": MODEL_FILE, "fp32": FP32_FILE}[precision]
        self.session = ort.InferenceSession(str(self.model_file), options, providers=["CPUExecutionProvider"])

    def read(self, question: str, texts: list[str]) -> list[Span | None]:
        """Each text's best span (None for an empty text), in the order given."""
        asked = question_ids(self.tokenizer, question)
        contexts = tokenize(self.tokenizer, texts)
        plan: list[tuple[int, Window]] = [(t, w) for t, context in enumerate(contexts) if len(context.ids)
                                          for w in windows(asked, context, self.cls, self.sep, MAX_TOKENS, OVERLAP)]
        if not plan:
            return [None] * len(texts)
        best: dict[int, tuple[float, int, int]] = {}  # text → its best span over its windows
        no_answer: dict[int, float] = {}  # text → its lowest no-answer score over its windows
        starts, ends = self.logits([w.ids for _, w in plan])
        for (t, window), start_logits, end_logits in zip(plan, starts, ends):
            no_answer[t] = min(no_answer.get(t, np.inf), float(start_logits[0] + end_logits[0]))
            found = best_span(start_logits, end_logits, window)
            if found is not None and (t not in best or found[2] > best[t][0]):
                offsets = contexts[t].offsets
                best[t] = (found[2], *trim(texts[t], int(offsets[found[0], 0]), int(offsets[found[1], 1])))
        return [Span(t, best[t][1], best[t][2], best[t][0], no_answer[t]) if t in best else None
                for t in range(len(texts))]

    def logits(self, rows: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Start and end logits of each window, one window a run: the int8 model quantises its activations with
        one scale per run, so a window batched with others (or with padding) would score differently with each
        neighbour (up to a logit apart, measured). Alone, a passage reads the same whatever else is retrieved,
        and faster too (no padding: 214 against 255 ms for four passages, README)."""
        starts, ends = [], []
        for ids in rows:
            vectors = self.embeddings.rows(ids)[None, :]
            mask = np.ones((1, len(ids)), dtype=np.int64)
            start, end = self.session.run(None, {"inputs_embeds": vectors, "attention_mask": mask})
            starts.append(start[0])
            ends.append(end[0])
        return starts, ends


def best_span(start: np.ndarray, end: np.ndarray, window: Window) -> tuple[int, int, float] | None:
    """(first, last context token, score) of the best span of at most `MAX_ANSWER_TOKENS` inside the window's
    context; None when it holds no context token."""
    if window.count == 0:
        return None
    lo = window.context_at
    s = start[lo:lo + window.count].astype(np.float64)
    e = end[lo:lo + window.count].astype(np.float64)
    grid = s[:, None] + e[None, :]
    i, j = np.indices(grid.shape)
    grid[(j < i) | (j - i >= MAX_ANSWER_TOKENS)] = -np.inf
    first, last = np.unravel_index(int(np.argmax(grid)), grid.shape)
    return window.first + int(first), window.first + int(last), float(grid[first, last])


def trim(text: str, start: int, end: int) -> tuple[int, int]:
    """The span without the spaces and punctuation at its edges (a token may carry a leading space or a
    trailing full stop); brackets and quotes are kept when the span holds their partner."""
    while start < end and text[start] in _EDGE and not _closes_inside(text, start, end):
        start += 1
    while end > start and text[end - 1] in _EDGE and not _opens_inside(text, start, end):
        end -= 1
    return start, end


_PAIRS = {"(": ")", "[": "]", "“": "”", "«": "»", "{": "}"}


def _closes_inside(text: str, start: int, end: int) -> bool:
    closing = _PAIRS.get(text[start])
    return closing is not None and closing in text[start + 1:end]


def _opens_inside(text: str, start: int, end: int) -> bool:
    char = text[end - 1]
    opening = next((o for o, c in _PAIRS.items() if c == char), None)
    return opening is not None and opening in text[start:end - 1]
