"""HTML mail bodies to plain text, for classification and the ticket history."""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

_BLOCK = frozenset(
    (
        "p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol",
        "blockquote", "pre", "hr", "section", "article", "header", "footer", "address", "dd",
        "dt",
    )
)
_SKIP = frozenset(("script", "style", "head", "title", "noscript", "template"))


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.skipping = 0
        self.quote_depth = 0
        self.pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skipping += 1
        elif tag == "blockquote":
            self.quote_depth += 1
            self.chunks.append("\n")
        elif tag == "pre":
            self.pre += 1
            self.chunks.append("\n")
        elif tag in _BLOCK:
            self.chunks.append("\n")
        elif tag == "td":
            self.chunks.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK:
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag == "blockquote":
            self.quote_depth = max(0, self.quote_depth - 1)
            self.chunks.append("\n")
        elif tag == "pre":
            self.pre = max(0, self.pre - 1)
            self.chunks.append("\n")
        elif tag in ("p", "div", "tr", "li", "table", "h1", "h2", "h3"):
            self.chunks.append("\n")

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        if not self.pre:
            # Source line breaks are only white space in HTML; <br> and blocks make lines.
            data = re.sub(r"\s+", " ", data)
        if self.quote_depth:
            # Keep quoted HTML recognisable as a quote for the reply stripper.
            self.chunks.append("> " * self.quote_depth if self._at_line_start() else "")
        self.chunks.append(data)

    def _at_line_start(self) -> bool:
        for chunk in reversed(self.chunks):
            if chunk:
                return chunk.endswith("\n")
        return True


def html_to_text(html: str) -> str:
    collector = _TextCollector()
    try:
        collector.feed(html)
        collector.close()
        text = "".join(collector.chunks)
    except Exception:  # a broken document still has words in it
        text = unescape(re.sub(r"<[^>]*>", " ", html))
    text = text.replace("\xa0", " ")
    lines = [line.strip() for line in text.split("\n")]
    out: list[str] = []
    for line in lines:
        if not line.strip() and out and not out[-1].strip():
            continue
        out.append(line)
    return "\n".join(out).strip()
