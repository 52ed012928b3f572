"""Average two trained readers' tensors (a weight-space ensemble, "model soup" / WiSE-FT): the shipped reader is
stage 3 and stage 10 averaged half and half, which answers wrongly less often than the stage 3 + 9 average in both
languages while the right answers hold (README, "Stage 10: twice the translated paragraphs"; stages 7 to 9 were
shipped the same way, and a 0.7 share for stage 9 cost Vietnamese short answers).

    python scripts/average_readers.py eval-out/reader-run3 eval-out/reader-run10 --out eval-out/reader-soup310

Each input is a training run's folder (`reader.safetensors` and its card `reader.json`). --out gets the averaged
`reader.safetensors` (fp16, the same tensors), a `reader.json` that holds both cards with their weights' hashes,
and the later run's `loss.png`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa.embedding.adapter import without_adapter  # noqa: E402
from qa.reader.export import weights_digest  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("first", type=Path, help="a training run's folder")
    parser.add_argument("second", type=Path, help="another run's folder, with the same tensors")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--share", type=float, default=0.5, help="the second run's weight (the first gets the rest)")
    args = parser.parse_args(argv)

    from safetensors.torch import load_file, save_file

    # the query adapter's maps are not the reader's: left out, to be trained again on the average (Makefile)
    first, second = (without_adapter(load_file(str(run / "reader.safetensors"))) for run in (args.first, args.second))
    if set(first) != set(second) or any(first[n].shape != second[n].shape for n in first):
        raise SystemExit(f"{args.first} and {args.second} do not hold the same tensors")
    averaged = {n: ((1 - args.share) * first[n].float() + args.share * second[n].float()).half().contiguous()
                for n in sorted(first)}
    args.out.mkdir(parents=True, exist_ok=True)
    save_file(averaged, str(args.out / "reader.safetensors"), metadata={"format": "pt"})
    card = {"model": "hoidap reader: the average of two trained readers' tensors (a weight-space ensemble)",
            "average": [{"share": 1 - args.share, "weights_sha256": weights_digest(args.first / "reader.safetensors"),
                         "card": json.loads((args.first / "reader.json").read_text(encoding="utf-8"))},
                        {"share": args.share, "weights_sha256": weights_digest(args.second / "reader.safetensors"),
                         "card": json.loads((args.second / "reader.json").read_text(encoding="utf-8"))}]}
    (args.out / "reader.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if (args.second / "loss.png").is_file():
        shutil.copyfile(args.second / "loss.png", args.out / "loss.png")
    print(f"wrote {args.out / 'reader.safetensors'}: {len(averaged)} tensors, {1 - args.share:g} × {args.first} "
          f"+ {args.share:g} × {args.second}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
