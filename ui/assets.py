"""The page's look and its one behaviour in the browser: the stylesheet, the marker-link script and the theme,
which Gradio 6 takes in launch() rather than Blocks()."""

from typing import Any

import gradio as gr

CSS = """
.qa-header { text-align: center; margin: 0.4rem 0 0.2rem; }
.qa-header h1 { font-size: 1.9rem; margin: 0; letter-spacing: 0.01em; }
.qa-header p { margin: 0.25rem 0 0; color: var(--body-text-color-subdued); }
#qa-banner { border-left: 4px solid #d97706; background: #fffbeb; color: #78350f; padding: 0.4rem 0.8rem;
             border-radius: 6px; }
#qa-banner p { margin: 0; }
.qa-sources { font-size: 0.92rem; line-height: 1.5; overflow-wrap: anywhere; }
.qa-sources.qa-empty { color: var(--body-text-color-subdued); padding: 1rem 0.2rem; }
.qa-turn { border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 0.4rem 0.7rem;
           margin-bottom: 0.6rem; background: var(--block-background-fill); }
.qa-turn > summary { cursor: pointer; font-weight: 600; padding: 0.2rem 0; }
.qa-q { color: var(--color-accent); margin-right: 0.3rem; }
.qa-turn h4 { margin: 0.5rem 0 0.3rem; font-size: 0.85rem; text-transform: uppercase; letter-spacing: 0.04em;
              color: var(--body-text-color-subdued); }
.qa-source { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 0.5rem 0.65rem;
             margin: 0.45rem 0; background: var(--background-fill-primary); transition: box-shadow 0.3s; }
.qa-source header { display: flex; gap: 0.45rem; align-items: baseline; flex-wrap: wrap; }
.qa-where { flex: 1; min-width: 10rem; }
.qa-num, .qa-rank { display: inline-block; min-width: 1.5rem; text-align: center; border-radius: 999px;
                    font-size: 0.8rem; font-weight: 700; padding: 0 0.35rem; }
.qa-num { background: var(--color-accent); color: white; }
.qa-rank { background: var(--background-fill-secondary); color: var(--body-text-color-subdued); }
.qa-score { font-variant-numeric: tabular-nums; font-size: 0.8rem; color: var(--body-text-color-subdued); }
.qa-passage { margin: 0.35rem 0 0.2rem; white-space: pre-wrap; }
.qa-passage mark { background: #fde68a; color: inherit; padding: 0 0.1rem; border-radius: 3px; }
.qa-badge { color: var(--color-accent); font-weight: 700; margin-left: 0.1rem; }
.qa-source footer, .qa-scores { font-size: 0.78rem; color: var(--body-text-color-subdued); }
.qa-scores { font-family: var(--font-mono); }
.qa-details { display: grid; grid-template-columns: max-content 1fr; gap: 0.1rem 0.7rem; font-size: 0.82rem;
              margin: 0.3rem 0; }
.qa-details dt { color: var(--body-text-color-subdued); }
.qa-details dd { margin: 0; }
.qa-more > summary { cursor: pointer; color: var(--body-text-color-subdued); margin-top: 0.3rem; }
.qa-flash { box-shadow: 0 0 0 3px #f59e0b; }
mark.qa-flash { background: #fbbf24; }
a.qa-marker { text-decoration: none; font-weight: 700; cursor: pointer; }
"""

# Marker links: scroll the sources panel to the cited sentence (opening its turn) instead of following the link.
JS = """
() => {
  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest("a.qa-marker, a[href^='#qa-src-']");
    if (!link) return;
    const id = link.getAttribute("data-qa-target") || (link.getAttribute("href") || "").slice(1);
    const target = document.getElementById(id);
    event.preventDefault();
    event.stopPropagation();
    if (!target) return;
    for (let node = target.parentElement; node; node = node.parentElement) {
      if (node.tagName === "DETAILS") node.open = true;
    }
    target.scrollIntoView({behavior: "smooth", block: "center"});
    const card = target.closest(".qa-source") || target;
    [target, card].forEach((el) => el.classList.add("qa-flash"));
    setTimeout(() => [target, card].forEach((el) => el.classList.remove("qa-flash")), 1600);
  }, true);
}
"""


def page_options() -> dict[str, Any]:
    """Page-wide settings for `gr.Blocks.launch`."""
    return {"css": CSS, "js": JS, "theme": gr.themes.Soft(primary_hue="teal", secondary_hue="amber"),
            "footer_links": ["api"]}
