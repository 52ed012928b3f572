"""`qa chat --mcp`: the ask and search endpoints as MCP tools, called with the official MCP client over
streamable HTTP against a real `qa chat` process."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator

import pytest

import qa

from conftest import ROOT, SEEDS

sys.path.insert(0, str(ROOT / "scripts"))
from benchkit import chat, checks  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mcp_url(seed_index, tmp_path_factory) -> Iterator[str]:
    with chat.chat_server(seed_index, SEEDS, tmp_path_factory.mktemp("mcp") / "server.log",
                           extra_args=["--mcp"]) as url:
        yield url + "gradio_api/mcp/"


async def _session_call(url: str, calls: list[tuple[str, dict]]) -> tuple[list, list]:
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async with streamable_http_client(url) as (read, write, _), ClientSession(read, write) as session:
        await session.initialize()
        tools = (await session.list_tools()).tools
        results = [await session.call_tool(name, arguments) for name, arguments in calls]
        return tools, results


def _json_of(result) -> dict:
    text = "".join(part.text for part in result.content if getattr(part, "type", "") == "text")
    return json.loads(text)


def test_mcp_tools_are_listed_with_typed_documented_parameters_and_answer_with_citations(mcp_url):
    texts = {document.name: document.text for document in qa.read_documents(SEEDS)}
    tools, (asked, searched, refused) = asyncio.run(_session_call(mcp_url, [
        ("ask", {"question": "Lãnh đạo các bên gặp nhau ở thành phố nào để ký hiệp định ngưng bắn?", "k": 3}),
        ("search", {"question": "How many soldiers did Azerbaijan lose in the winter campaigns?", "k": 2}),
        ("ask", {"question": "", "k": 3}),
    ]))
    by_name = {tool.name: tool for tool in tools}
    assert {"ask", "search"} <= set(by_name)
    schema = by_name["ask"].inputSchema
    assert schema["properties"]["question"]["type"] == "string" and schema["properties"]["k"]["type"] in (
        "integer", "number")
    assert "Vietnamese or English" in by_name["ask"].description
    assert "from 1 to 50" in json.dumps(schema)  # the parameter's documentation reaches the client

    answer = _json_of(asked)
    assert not asked.isError and answer["answered"] and "Moscow" in answer["answer"]
    assert not checks.answer_problems(answer, texts), checks.answer_problems(answer, texts)
    hits = _json_of(searched)["hits"]
    assert len(hits) == 2 and not checks.hit_problems(hits, texts)
    assert refused.isError and "type a question" in "".join(p.text for p in refused.content).lower()
