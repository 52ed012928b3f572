"""qa.reader.tokenizer must tokenize exactly as the `tokenizers` library does with the base model's
tokenizer.json (the reader was trained on the library's output): same ids, same character offsets."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT.parent / "shared" / "benchmarks" / "xquad-dev"


@pytest.fixture(scope="module")
def tokenizers_pair(tmp_path_factory):
    from tokenizers import Tokenizer

    from qa.embedding.default_model import prepare_default_model
    from qa.reader.tokenizer import ReaderTokenizer, write_tokenizer_files

    source = prepare_default_model() / "tokenizer.json"
    folder = tmp_path_factory.mktemp("reader-tokenizer")
    write_tokenizer_files(source, folder)
    return ReaderTokenizer(folder), Tokenizer.from_file(str(source))


def texts() -> list[str]:
    seed = (ROOT / "seeds").glob("*.txt")
    out = [path.read_text(encoding="utf-8") for path in seed]
    out += ["a  b\tc\n\nd", "", " ", "日本語のテキスト 😀 ∮ x²", "\x00\x01 weird", "ﬁ ligature Ⅻ ½ ‰ ㎞",
            unicodedata.normalize("NFD", "Đàn ông dưới 45 tuổi"), "ab\u0301c", "\ufeffx", "Hồ Chí Minh City's café",
            "e-mail: a.b@c.vn, https://x.y/z?q=1 — “quoted” «guillemets» (1993–1994)", "ʼ ˈ ̃ ᴀ ꜱ", "\u200b\u200dz"]
    for name in ("xquad-dev.vi.json", "xquad-dev.en.json"):
        path = DEV / name
        if path.exists():  # beside shared/: a few dev paragraphs and questions as well
            data = json.loads(path.read_text(encoding="utf-8"))
            for article in data["data"][:3]:
                for paragraph in article["paragraphs"][:3]:
                    out.append(paragraph["context"])
                    out += [q["question"] for q in paragraph["qas"]]
    return out


def test_same_ids_and_offsets_as_the_library(tokenizers_pair):
    fast, library = tokenizers_pair
    samples = texts()
    ours = fast.encode_batch(samples)
    theirs = library.encode_batch(samples, add_special_tokens=False)
    for text, a, b in zip(samples, ours, theirs):
        assert a.ids == b.ids, text[:60]
        assert [tuple(o) for o in a.offsets] == [tuple(o) for o in b.offsets], text[:60]
    assert fast.token_to_id("<s>") == library.token_to_id("<s>")


def test_special_tokens_are_refused(tokenizers_pair):
    fast, _ = tokenizers_pair
    with pytest.raises(ValueError):
        fast.encode_batch(["x"], add_special_tokens=True)
