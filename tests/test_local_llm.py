"""`--llm local` against the real thing: llama.cpp's server (xllamacpp) with the real default model (Qwen2.5-Coder
0.5B Instruct, Q4_K_M), run as the child process `qa.answer.local_llm` starts, with short answers so the suite
stays quick. Faults a real server cannot be made to show (an HTTP 500, malformed chunks) stay in test_llm.py's
scripted server.

Where a test needs the model to write something exact (a marker that points at no passage), the real server is
asked to copy a given text: the 0.5B model does that reliably, and the stream, its format and everything done
with it afterwards are the real ones."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import urllib.request
import warnings
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

import qa
from qa.answer import LLMAnswerer, LLMFallbackWarning, LocalLLM, final_answer
from qa.answer.llm import ChatClient
from qa.answer.local_llm import INSTALL_HINT, PartedModel, check_gguf, default_gguf, require_server
from qa.errors import InvalidArgumentError, ModelNotAvailableError

pytestmark = pytest.mark.slow
pytest.importorskip("xllamacpp", reason="the local-llm extra is not installed (make test installs it)")

QUESTION = "Sau lệnh ngưng bắn năm 1994, người Armenia ở Nagorno-Karabakh nắm giữ bao nhiêu phần trăm lãnh thổ?"


@pytest.fixture(scope="module")
def server():
    with LocalLLM.start(parallel=2, context=4096) as running:
        yield running


@pytest.fixture(scope="module")
def result(retriever):
    found = retriever.retrieve(QUESTION, k=5)
    assert len(found.hits) == 5
    return found


@pytest.fixture(scope="module")
def extractive(retriever):
    return qa.ExtractiveAnswerer(retriever.store)


class CopyClient(ChatClient):
    """The real client, asking the real server to copy `text` instead of answering: an exact model output."""

    def __init__(self, settings, text: str, deadline: float | None = None) -> None:
        super().__init__(settings, deadline)
        self.text = text

    def stream(self, messages, stats=None):
        return super().stream([{"role": "system", "content": "You copy text exactly."},
                               {"role": "user", "content": f"Copy this text exactly: {self.text}"}], stats)


def answer_with(settings, extractive, result, client=None, deltas: list | None = None):
    events = list(LLMAnswerer(settings, extractive, client).stream(result, 5))
    assert all(isinstance(event, str) for event in events[:-1])
    if deltas is not None:
        deltas.extend(events[:-1])
    return final_answer(events)


def test_the_real_server_streams_its_answer_with_token_counts(server):
    stats: dict = {}
    deltas = list(ChatClient(replace(server.settings, max_tokens=8)).stream(
        [{"role": "user", "content": "Copy this text exactly: Moskva"}], stats))
    assert "".join(deltas).strip() == "Moskva" and len(deltas) >= 2  # streamed token by token
    assert stats["prompt_tokens"] > 0 and 1 <= stats["generated_tokens"] <= 8
    assert stats["prompt_tokens_per_second"] > 0 and stats["generated_tokens_per_second"] > 0
    assert server.settings.model == "qwen2.5-coder-0.5b-instruct-q4_k_m" and server.url.startswith("http://127.0.0.1:")


def test_a_real_answer_to_a_real_prompt_is_verified_or_falls_back_with_its_reason(server, extractive, result):
    deltas: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LLMFallbackWarning)
        answer = answer_with(replace(server.settings, max_tokens=48), extractive, result, deltas=deltas)
    assert deltas and answer.model == server.settings.model
    generation = answer.generation
    assert generation["prompt_tokens"] > 100 and generation["generated_tokens"] >= 1
    assert 0 < generation["first_token_seconds"] <= generation["seconds"]
    if answer.backend == "llm":
        assert answer.citations and [c.marker for c in answer.citations] == list(range(1, len(answer.citations) + 1))
        assert all(f"[{c.marker}]" in answer.answer for c in answer.citations)
    else:  # the 0.5B model often answers without a marker: then the extractive answer, with the reason
        assert answer.fallback_reason == "the answer cites none of the passages it was given"
        assert answer.answer == extractive.answer(result, 5).answer
    assert json.loads(json.dumps(answer.to_dict()))["generation"] == generation


def test_a_cited_answer_keeps_valid_markers_renumbered_and_drops_the_rest(server, extractive, result):
    settings = replace(server.settings, max_tokens=24)
    answer = answer_with(settings, extractive, result, CopyClient(settings, "Khoảng 9% [2] [9]."))
    assert answer.backend == "llm" and answer.model == settings.model
    assert answer.answer == "Khoảng 9% [1]." and [c.passage_id for c in answer.citations] == [result.hits[1].passage_id]


def test_a_marker_to_a_passage_that_does_not_exist_falls_back(server, extractive, result):
    settings = replace(server.settings, max_tokens=24)
    with pytest.warns(LLMFallbackWarning, match="cites none"):
        answer = answer_with(settings, extractive, result, CopyClient(settings, "Khoảng 9% [7]."))
    assert answer.backend == "extractive" and answer.fallback_reason.startswith("the answer cites none")


def test_an_answer_cut_to_one_token_cites_nothing_and_falls_back(server, extractive, result):
    with pytest.warns(LLMFallbackWarning, match="cites none"):
        answer = answer_with(replace(server.settings, max_tokens=1), extractive, result)
    assert answer.backend == "extractive" and answer.generation["generated_tokens"] == 1


def test_an_answer_past_the_time_limit_falls_back(server, extractive, result):
    settings = replace(server.settings, max_tokens=400)
    long = " ".join(f"Đoạn {n}: người Armenia kiểm soát 9% lãnh thổ [1]." for n in range(30))  # ~600 tokens to write
    with pytest.warns(LLMFallbackWarning, match="within 1 s"):
        answer = answer_with(settings, extractive, result, CopyClient(settings, long, deadline=1.0))
    assert answer.backend == "extractive" and answer.generation["seconds"] < 10


def test_a_server_killed_mid_answer_falls_back(extractive, result):
    text = " ".join(f"Đoạn {n} nói rằng người Armenia kiểm soát 9% lãnh thổ [1]." for n in range(12))
    with LocalLLM.start(parallel=1, context=2048) as own:
        settings = replace(own.settings, max_tokens=300)
        events = LLMAnswerer(settings, extractive, CopyClient(settings, text)).stream(result, 5)
        with pytest.warns(LLMFallbackWarning):
            first = next(events)
            own.process.kill()
            rest = list(events)
        assert isinstance(first, str) and own.process.wait(10) == -9
        answer = final_answer(rest)
    assert answer.backend == "extractive" and answer.answer == extractive.answer(result, 5).answer
    assert any(why in answer.fallback_reason for why in ("ended before", "broke off", "cannot reach"))


def test_two_users_at_once_each_get_their_own_answer(server):
    client = ChatClient(replace(server.settings, max_tokens=8))
    words = ("Bishkek", "Moskva")
    got: dict[str, str] = {}

    def ask(word: str) -> None:
        got[word] = "".join(client.stream([{"role": "user", "content": f"Copy this text exactly: {word}"}]))

    threads = [threading.Thread(target=ask, args=(word,)) for word in words]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert {word: got.get(word, "").strip() for word in words} == {word: word for word in words}


def test_the_chat_streams_the_answer_and_names_the_model_under_it(server, retriever, tmp_path):
    from ui.chat import Chat
    from ui.feedback import FeedbackLog

    settings = replace(server.settings, max_tokens=24)
    engine = qa.Engine(qa.Assistant(retriever, llm=settings))
    chat = Chat(engine, FeedbackLog(tmp_path / "feedback.jsonl"), stream_delay=0, writer=settings.model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LLMFallbackWarning)
        steps = [history[-1]["content"] for history, *_ in chat.respond(QUESTION, [], [], 5, False)]
    assert settings.model in steps[0]  # searching…, then the model writes
    assert len(steps) >= 4 and steps[1] != steps[2]  # the text grows as the tokens stream in
    assert (f"Viết bởi {settings.model}" in steps[-1]) or (f"Không dùng câu trả lời của {settings.model}" in steps[-1])


def test_qa_ask_llm_local_answers_with_the_local_model(seed_index):
    out = subprocess.run([sys.executable, "-m", "qa", "ask", "--index", str(seed_index), "--seeds", "seeds",
                          "--llm", "local", "--json", QUESTION], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert answer["model"] == "qwen2.5-coder-0.5b-instruct-q4_k_m" and answer["generation"]["generated_tokens"] > 0
    assert answer["backend"] == "llm" or answer["fallback_reason"]
    url = re.search(r"llama\.cpp is serving \S+ at (http://\S+?)\.?$", out.stderr, re.M).group(1)
    with pytest.raises(OSError):  # stopped when the command ended
        urllib.request.urlopen(url + "/health", timeout=5)


# ------------------------------------------------------------------------------------- without the server

@pytest.mark.parametrize("content, message", [(None, "No model file"), (b"not a model", "not a GGUF model file")])
def test_llm_model_must_be_a_gguf_file(tmp_path, seed_index, content, message):
    path = tmp_path / "model.gguf"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InvalidArgumentError, match=message):
        check_gguf(path)
    out = CliRunner().invoke(__import__("qa.cli.app", fromlist=["main"]).main,
                             ["ask", "--index", str(seed_index), "--llm", "local", "--llm-model", str(path), "hỏi"])
    assert out.exit_code == 2 and message in out.output


def test_without_the_extra_llm_local_says_what_to_install(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "xllamacpp" else real(name, *a))
    with pytest.raises(ModelNotAvailableError) as caught:
        require_server()
    assert INSTALL_HINT in str(caught.value) and "[local-llm]" in INSTALL_HINT


def test_the_default_model_is_joined_from_its_parts_once_and_checked(tmp_path, monkeypatch):
    import hashlib

    chunks = [b"GGUF" + b"a" * 10, b"b" * 7, b"c" * 3]
    for n, chunk in enumerate(chunks, start=1):
        package = tmp_path / "parts" / f"fake_part{n}"
        (package / "data").mkdir(parents=True)
        (package / "data" / "part.bin").write_bytes(chunk)
        (package / "__init__.py").write_text(
            "import os\ndef get_part_path():\n    return os.path.join(os.path.dirname(__file__), 'data', 'part.bin')\n")
    monkeypatch.syspath_prepend(str(tmp_path / "parts"))
    whole = b"".join(chunks)
    model = PartedModel("fake", tuple(f"fake_part{n}" for n in range(1, 4)), len(whole),
                        hashlib.sha256(whole).hexdigest())
    path = default_gguf(tmp_path / "cache", model=model)
    assert path.read_bytes() == whole and check_gguf(path) == path
    assert default_gguf(tmp_path / "cache", model=model) == path  # found, not joined again
    wrong = replace(model, name="wrong", sha256="0" * 64)
    with pytest.raises(ModelNotAvailableError, match="reinstall"):
        default_gguf(tmp_path / "cache", model=wrong)
    assert not list((tmp_path / "cache" / "llm").glob("*wrong*"))  # nothing half-written left behind
    with pytest.raises(ModelNotAvailableError, match="not installed"):
        default_gguf(tmp_path / "cache", model=replace(model, name="missing", packages=("no_such_part",)))


def test_the_server_stops_with_its_parent(tmp_path):
    """A parent that dies without stopping it (kill -9) closes the child's stdin, and the child exits."""
    script = ("import sys, time; from qa import LocalLLM; s = LocalLLM.start(); print(s.process.pid, flush=True); "
              "time.sleep(600)")
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
    finally:
        parent.kill()
        parent.wait()
    for _ in range(100):
        if not Path(f"/proc/{child}").exists() or "zombie" in Path(f"/proc/{child}/status").read_text().lower():
            break
        threading.Event().wait(0.1)
    else:
        pytest.fail(f"the llama.cpp child {child} outlived its parent")
