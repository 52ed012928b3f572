"""The opt-in int8 passage encoder: a sentence-transformers model exported once to ONNX, fused and quantised.

Why each step (measured on the dev articles, see README "Quantised indexing"):
- attention exported "eager" so ONNX Runtime's BERT optimizer can fuse attention, LayerNorm and GELU: the fused
  graph is where most of the gain over torch comes from;
- int8 weights (dynamic quantisation of MatMul and the fused Attention), per channel and with reduce_range: ONNX
  Runtime's AVX2 kernels without VNNI saturate on full-range int8 weights (cosine to fp32 0.985 without, 0.996
  with), at the same speed;
- except each layer's feed-forward down-projection, left fp32: its input is the GELU output, whose few large
  values stretch the one activation scale dynamic quantisation gives a tensor, so the many small values lose
  their precision (dev English top-1 0.822 with it quantised, 0.832 without, fp32 0.836);
- each text run alone: its vector depends on nothing else, and 2 cores run it no slower than in batches.
Only passages use it: queries still go through the fp32 model, so a quantised index answers the same questions.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.embedding.default_model import model_cache_root
from qa.errors import InvalidArgumentError, QuantizationUnsupportedError

QUANTIZE_ENV = "QA_QUANTIZE"
QUANTIZE_CHOICES = ("none", "int8")
FP32_ENCODER = "sentence-transformers"  # what a manifest without an encoder field was built with
INT8_ENCODER = "onnx-int8"
RECIPE = 2  # bump when the export recipe changes: older cached exports are then rebuilt
MODEL_FILE = "model.onnx"
EXPORT_RECORD = "export.json"  # model, recipe and how long the one-time export took
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_SUPPORTED_TYPES = ("bert", "roberta", "xlm-roberta")  # what ONNX Runtime's "bert" optimizer fuses


def resolve_quantize(quantize: str | None = None) -> str:
    """The passage encoding asked for: the argument, else $QA_QUANTIZE, else "none" (fp32 sentence-transformers)."""
    value = (quantize or os.environ.get(QUANTIZE_ENV) or "none").strip().lower()
    if value not in QUANTIZE_CHOICES:
        raise InvalidArgumentError(f"Unknown quantisation {value!r}: use {' or '.join(QUANTIZE_CHOICES)}.")
    return value


def encoder_name(quantize: str | None = None) -> str:
    """The manifest's name for the passage encoder that `quantize` (see `resolve_quantize`) asks for."""
    return INT8_ENCODER if resolve_quantize(quantize) == "int8" else FP32_ENCODER


def export_dir(model_name: str, location: str) -> Path:
    """Where the int8 export of `model_name` (loaded from `location`) is cached: one folder a model, weights and
    recipe, beside the models; the weights' sizes and times are in the key, so changed weights are exported anew."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(model_name).name or model_name).strip("-")
    weights = sorted(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}"
                     for p in Path(location).glob("*.safetensors"))
    key = hashlib.sha256("\0".join([model_name, location, str(RECIPE), *weights]).encode()).hexdigest()[:10]
    return model_cache_root() / "onnx" / f"{slug}-{key}-int8"


@dataclass(frozen=True)
class ExportReport:
    folder: Path
    seconds: float  # how long the export took (when it was made, if `cached`)
    cached: bool


def ensure_int8_export(st_model, model_name: str, location: str,
                       log: Callable[[str], None] = lambda m: None) -> ExportReport:
    """The cached int8 ONNX file for `st_model`, exporting it first if needed (a one-time cost of a minute or
    so); written into a temporary folder and renamed into place, so a crash never leaves half an export."""
    target = export_dir(model_name, location)
    if (target / MODEL_FILE).is_file():
        return ExportReport(target, _recorded_seconds(target), True)
    check_supported(st_model, model_name)
    _require_onnx()
    started = time.perf_counter()
    log(f"Exporting {model_name} to ONNX int8 (once) into {target}…")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    try:
        try:
            with _root_logging_kept():
                _export(st_model, staging)
        except OSError:
            raise
        except Exception as error:  # noqa: BLE001 - torch.onnx and the optimizer fail in many ways on odd models
            raise QuantizationUnsupportedError(
                f"Cannot export {model_name} to ONNX int8: {error.__class__.__name__}: "
                f"{str(error).splitlines()[0][:300] if str(error) else 'no detail'}. Index it without --quantize."
            ) from error
        seconds = time.perf_counter() - started
        (staging / EXPORT_RECORD).write_text(json.dumps({"model": model_name, "recipe": RECIPE,
                                                         "seconds": round(seconds, 1)}) + "\n", encoding="utf-8")
        staging.chmod(0o755)
        try:
            os.replace(staging, target)
        except OSError:  # another process published the same export first
            if not (target / MODEL_FILE).is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ExportReport(target, seconds, False)


def _recorded_seconds(folder: Path) -> float:
    try:
        return float(json.loads((folder / EXPORT_RECORD).read_text(encoding="utf-8"))["seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0.0


def _require_onnx() -> None:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as error:
        raise QuantizationUnsupportedError(f"--quantize int8 needs onnx and onnxruntime ({error}): "
                                           "pip install 'hoidap[int8]'.") from error


def check_supported(st_model, model_name: str) -> None:
    """Transformer then mean pooling (then, optionally, Normalize): what `OnnxPassages` reproduces exactly."""
    modules = list(st_model)
    kinds = [type(m).__name__ for m in modules]
    pooling = modules[1] if len(modules) > 1 else None
    config = getattr(getattr(modules[0], "auto_model", None), "config", None)
    problem = ""
    if kinds[:2] != ["Transformer", "Pooling"] or any(k != "Normalize" for k in kinds[2:]):
        problem = f"its modules are {kinds}, not Transformer, Pooling (and Normalize)"
    elif getattr(pooling, "pooling_mode", None) != "mean" and not getattr(pooling, "pooling_mode_mean_tokens", False):
        problem = f"it pools with {getattr(pooling, 'pooling_mode', '?')!r}, not mean pooling"
    elif getattr(config, "model_type", None) not in _SUPPORTED_TYPES:
        problem = f"its transformer is {getattr(config, 'model_type', '?')!r}, not one of {_SUPPORTED_TYPES}"
    if problem:
        raise QuantizationUnsupportedError(f"Cannot build an int8 encoder for {model_name}: {problem}. "
                                           "Index it without --quantize.")


@contextmanager
def _root_logging_kept() -> Iterator[None]:
    """The exporters log through (and reconfigure) the root logger: put it back as it was, so their chatter,
    and the DEBUG level they leave behind, do not reach the CLI's stderr."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    root.addHandler(logging.NullHandler())  # stops logging.warning() from installing a stderr handler
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.onnx's deprecation and tracer warnings
            yield
    finally:
        root.setLevel(level)
        root.handlers[:] = handlers


def _export(st_model, folder: Path) -> None:
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model

    class LastHiddenState(torch.nn.Module):
        def __init__(self, model) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    # a copy with eager attention: torch's fused SDPA exports as a graph the optimizer cannot fuse
    model = copy.deepcopy(st_model[0].auto_model).cpu().eval()
    model.set_attn_implementation("eager")
    with tempfile.TemporaryDirectory(prefix="export-", dir=folder) as scratch:
        plain, fused = Path(scratch) / "plain.onnx", Path(scratch) / "fused.onnx"
        ids = torch.tensor([[0, 100, 200, 2], [0, 300, 2, 1]])
        mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
        axes = {name: {0: "batch", 1: "tokens"} for name in (*_INPUTS, "last_hidden_state")}
        with torch.inference_mode():
            torch.onnx.export(LastHiddenState(model), (ids, mask, torch.zeros_like(ids)), str(plain),
                              input_names=list(_INPUTS), output_names=["last_hidden_state"], dynamic_axes=axes,
                              opset_version=17, dynamo=False)
        config = model.config
        optimize_model(str(plain), model_type="bert", num_heads=config.num_attention_heads,
                       hidden_size=config.hidden_size).save_model_to_file(str(fused))
        quantize_dynamic(str(fused), str(folder / MODEL_FILE), op_types_to_quantize=["MatMul", "Attention"],
                         weight_type=QuantType.QInt8, per_channel=True, reduce_range=True,
                         nodes_to_exclude=down_projections(fused, config.intermediate_size, config.hidden_size),
                         extra_options={"DefaultTensorType": 1})  # 1: float, for outputs of fused ops


def down_projections(model_path: Path, intermediate: int, hidden: int) -> list[str]:
    """Names of the MatMul nodes that multiply by an (intermediate × hidden) weight: the feed-forward
    down-projections, found by shape, so whatever the exporter names them."""
    import onnx

    graph = onnx.load(str(model_path), load_external_data=False).graph
    shapes = {weight.name: tuple(weight.dims) for weight in graph.initializer}
    return [node.name for node in graph.node
            if node.op_type == "MatMul" and shapes.get(node.input[1]) == (intermediate, hidden)]


class OnnxPassages:
    """The part of a SentenceTransformer that `Embedder` uses, with passages encoded by the int8 ONNX model;
    `query_model` is the fp32 model itself, so questions are encoded exactly as for an fp32 index."""

    def __init__(self, st_model, export: ExportReport) -> None:
        _require_onnx()
        import onnxruntime as ort

        self.query_model, self.export = st_model, export
        self.prompts = st_model.prompts
        self.device = st_model.device
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = os.cpu_count() or 1
        self._session = ort.InferenceSession(str(export.folder / MODEL_FILE), options,
                                             providers=["CPUExecutionProvider"])

    def get_embedding_dimension(self) -> int:
        return int(self.query_model.get_embedding_dimension())

    def encode(self, texts: list[str], prompt_name: str | None = None, **_: object) -> np.ndarray:
        """Like `SentenceTransformer.encode` with normalised numpy output (what `Embedder` always asks for).

        Each text runs alone (the batch size is not used): dynamic quantisation gives an activation tensor one
        scale per run, so a text batched with others got a vector that depended on them (cosine 0.998 to itself
        alone), and a rebuild that reuses vectors by text would mix two encodings. Alone, a vector depends only on
        its text, and 2 cores run it no slower: no padding, smaller activations (README, "Quantised indexing")."""
        st = self.query_model
        prompt = self.prompts.get(prompt_name, "") if prompt_name else ""
        encoded = st.tokenizer([prompt + t for t in texts], truncation=True, max_length=st.max_seq_length,
                               padding=False, return_attention_mask=False, return_token_type_ids=False)["input_ids"]
        out = np.zeros((len(texts), self.get_embedding_dimension()), dtype=np.float32)
        for row, tokens in enumerate(encoded):
            out[row] = self._mean_pooled(np.asarray([tokens], dtype=np.int64))
        return out

    def _mean_pooled(self, ids: np.ndarray) -> np.ndarray:
        """Normalised mean of one text's last hidden states ([1, tokens] ids, no padding)."""
        hidden = self._session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids),
                                          "token_type_ids": np.zeros_like(ids)})[0][0]
        pooled = hidden.mean(axis=0)
        return pooled / max(float(np.linalg.norm(pooled)), 1e-12)
