"""Markup for the chat and the sources panel: escaping, citation links, and the cards of cited passages.

Everything taken from documents is escaped before it becomes markup: a document that holds HTML, Markdown or a
<script> shows it as text.
"""

import dataclasses
import html
import re
from collections.abc import Sequence

import qa
from ui.strings import LANGUAGE_NAMES, TEXT, VI, say

MAX_TURNS_SHOWN = 20  # turns kept in the sources panel

# Characters that mean something to HTML or to the chat's Markdown renderer, as numeric entities: the text
# then reads exactly as written. Line-start list/quote/heading markers and "://" (autolinks) are handled below.
_ENTITIES = {ch: f"&#{ord(ch)};" for ch in "&<>\"'\\`*_[]()#|~$!{}"}
_ESCAPE_TABLE = str.maketrans(_ENTITIES)
_LINE_START_MARK = re.compile(r"^(\s*)([-+>=]|\d+(?=[.)]))", re.MULTILINE)
_BOLD_LEAD = re.compile(r"\*\*(.+?)\*\*(?= — )")
_ESCAPED_MARKER = re.compile(r"&#91;(\d{1,3})&#93;")

Mark = tuple[int, int, int | None]  # (start, end, citation marker or None) into a passage's text


# ------------------------------------------------------------------------------------------------ escaping

def escape_html(text: str) -> str:
    return html.escape(text, quote=True)


def escape_text(text: str) -> str:
    """`text` as inert chat markup: no HTML, Markdown, LaTeX or autolink survives; it displays as typed."""
    escaped = text.translate(_ESCAPE_TABLE).replace("://", "&#58;//")
    return _LINE_START_MARK.sub(lambda m: m.group(1) + "".join(f"&#{ord(c)};" for c in m.group(2)), escaped)


def anchor_id(turn: int, marker: int) -> str:
    return f"qa-src-{turn}-{marker}"


def chat_markup(text: str, turn: int | None = None, markers: Sequence[int] = ()) -> str:
    """Escaped answer text whose citation markers [n] link to their passages in the sources panel; the short
    answer the reader's answers open with (`**span** — …`) in bold."""
    lead = _BOLD_LEAD.match(text)
    escaped = escape_text(text) if lead is None else \
        f"<strong>{escape_text(lead.group(1))}</strong>{escape_text(text[lead.end():])}"
    if turn is None or not markers:
        return escaped

    def link(match: re.Match) -> str:
        marker = int(match.group(1))
        if marker not in markers:
            return match.group(0)
        return (f'<a class="qa-marker" href="#{anchor_id(turn, marker)}" '
                f'data-qa-target="{anchor_id(turn, marker)}">[{marker}]</a>')

    return _ESCAPED_MARKER.sub(link, escaped)


def shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


# ------------------------------------------------------------------------------------------- sources panel

@dataclasses.dataclass(frozen=True)
class SourceView:
    """One passage as the sources panel shows it (plain text; escaped only when rendered)."""

    rank: int
    passage_id: str
    document: str
    title: str
    section: str | None
    paragraph: int
    score: float
    scores: dict
    text: str
    marks: Sequence[Mark]  # the cited (or, uncited, the best) sentences, in text order
    extra_quotes: Sequence[tuple[str, int | None]]  # cited sentences not found verbatim in `text`
    page: int | None = None  # PDFs: the page the passage starts on


def source_views(answer: qa.Answer) -> tuple[list[SourceView], list[SourceView]]:
    """(cited passages in marker order, the other top-k passages): each with its sentence(s) marked."""
    by_id = {hit.passage_id: hit for hit in answer.retrieved or answer.hits}
    marks: dict[str, list[Mark]] = {}
    quotes: dict[str, list[tuple[str, int]]] = {}
    for citation in answer.citations:
        hit = by_id.get(citation.passage_id)
        if hit is None:
            continue
        sentence = next((s.text for s in hit.passage.sentences if s.start == citation.start), None)
        span = _sentence_span(hit.text, sentence) if sentence else None
        marks.setdefault(hit.passage_id, [])
        quotes.setdefault(hit.passage_id, [])
        if span:
            marks[hit.passage_id].append((*span, citation.marker))
        else:
            quotes[hit.passage_id].append((citation.quote, citation.marker))
    cited = [_view(by_id[passage_id], sorted(marks[passage_id]), quotes[passage_id]) for passage_id in marks]
    shown = {hit.passage_id for hit in answer.hits}
    others = [_view(hit, _best_sentence_mark(hit), []) for hit in answer.retrieved or answer.hits
              if hit.passage_id not in marks and hit.passage_id in shown]
    return cited, others


def _sentence_span(text: str, sentence: str) -> tuple[int, int] | None:
    position = text.find(sentence)
    return (position, position + len(sentence)) if position >= 0 else None


def _best_sentence_mark(hit: qa.Hit) -> list[Mark]:
    sentences = hit.passage.sentences
    span = _sentence_span(hit.text, sentences[hit.best_sentence].text) \
        if 0 <= hit.best_sentence < len(sentences) else None
    return [(*span, None)] if span else []


def _view(hit: qa.Hit, marks: list[Mark], extra_quotes: list[tuple[str, int]]) -> SourceView:
    c = hit.citation
    return SourceView(hit.rank, hit.passage_id, c.document, c.title, c.section, c.paragraph, hit.score,
                      dataclasses.asdict(hit.scores), hit.text, marks, extra_quotes, c.page)


def _marked_text(view: SourceView, turn: int) -> str:
    parts, position = [], 0
    for start, end, marker in view.marks:
        if start < position:
            continue  # two markers on one sentence: the first one's mark covers it
        parts.append(escape_html(view.text[position:start]))
        ident = f' id="{anchor_id(turn, marker)}"' if marker is not None else ""
        badge = f'<sup class="qa-badge">[{marker}]</sup>' if marker is not None else ""
        parts.append(f"<mark{ident}>{escape_html(view.text[start:end])}</mark>{badge}")
        position = end
    parts.append(escape_html(view.text[position:]))
    for quote, marker in view.extra_quotes:
        ident = f' id="{anchor_id(turn, marker)}"' if marker is not None else ""
        parts.append(f' … <mark{ident}>{escape_html(quote)}</mark><sup class="qa-badge">[{marker}]</sup>')
    return "".join(parts)


def _card(view: SourceView, turn: int, language: str, show_details: bool) -> str:
    markers = [m for _, _, m in view.marks if m is not None] + [m for _, m in view.extra_quotes if m is not None]
    badge = "".join(f'<span class="qa-num">{m}</span>' for m in markers) or f'<span class="qa-rank">#{view.rank}</span>'
    where = [f"<strong>{escape_html(view.title)}</strong>"]
    if view.section:
        where.append(escape_html(view.section))
    if view.page is not None:
        where.append(f"{TEXT['page'][language]} {view.page}")
    where.append(f"{TEXT['paragraph'][language]} {view.paragraph}" if language == VI else f"¶{view.paragraph}")
    details = ""
    if show_details:
        s = view.scores
        details = (f'<div class="qa-scores">dense {s["dense"]:.3f} · sentence {s["sentence"]:.3f} · '
                   f'lexical {s["lexical"]:.3f} × {s["lexical_weight"]:.2f}</div>')
    first_id = f' id="{anchor_id(turn, markers[0])}-card"' if markers else ""
    return (f'<article class="qa-source"{first_id} data-passage="{escape_html(view.passage_id)}">'
            f'<header>{badge}<span class="qa-where">{" › ".join(where)}</span>'
            f'<span class="qa-score" title="{TEXT["score"][language]}">{TEXT["score"][language]} '
            f'{view.score:.3f}</span></header>'
            f'<p class="qa-passage">{_marked_text(view, turn)}</p>'
            f'<footer>{escape_html(view.document)}</footer>{details}</article>')


def render_turn(turn: dict, show_details: bool, open_: bool) -> str:
    """One question's sources: its cited passages (and the others retrieved), or the nearest when unanswered."""
    language = turn["language"]
    number = turn["number"]
    head = (f'<summary><span class="qa-q">{TEXT["question"][language]} {number}</span> '
            f'{escape_html(shorten(turn["question"], 140))}</summary>')
    body = []
    if show_details and turn.get("answer"):
        answer = turn["answer"]
        rows = [(TEXT["language"][language], LANGUAGE_NAMES[language].get(answer["language"], answer["language"])),
                (TEXT["confidence"][language], f'{answer["confidence"]:.2f}')]
        if turn.get("query") and turn["query"] != turn["question"]:
            rows.append((TEXT["query"][language], turn["query"]))
        body.append('<dl class="qa-details">' + "".join(
            f"<dt>{escape_html(k)}</dt><dd>{escape_html(v)}</dd>" for k, v in rows) + "</dl>")
    cited, others = turn.get("cited", []), turn.get("others", [])
    if cited:
        body.append(f'<h4>{TEXT["cited"][language]}</h4>')
        body.extend(_card(v, number, language, show_details) for v in cited)
        if others:
            body.append(f'<details class="qa-more"><summary>{TEXT["others"][language]} ({len(others)})</summary>'
                        + "".join(_card(v, number, language, show_details) for v in others) + "</details>")
    elif others:
        body.append(f'<h4>{TEXT["nearest"][language]}</h4>')
        body.extend(_card(v, number, language, show_details) for v in others)
    return (f'<details class="qa-turn" data-turn="{number}"{" open" if open_ else ""}>{head}'
            + "".join(body) + "</details>")


def render_sources(turns: Sequence[dict], show_details: bool) -> str:
    """The sources panel: the newest turns first, the newest one open."""
    shown = [t for t in turns if t.get("cited") or t.get("others")][-MAX_TURNS_SHOWN:]
    if not shown:
        return f'<div class="qa-sources qa-empty">{say("no_sources", None)}</div>'
    newest = shown[-1]["number"]
    return ('<div class="qa-sources">'
            + "".join(render_turn(t, show_details, t["number"] == newest) for t in reversed(shown)) + "</div>")
