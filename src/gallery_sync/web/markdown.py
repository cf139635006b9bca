"""An asset's description as HTML: Markdown (CommonMark and tables, markdown-it-py) made safe
by a maintained sanitiser (nh3), the result kept by the description's sha256 (LRU)."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token

# What a description may keep: text structure, tables, code, links. No image: a description
# must not make a visitor's browser fetch anything (an image from elsewhere would tell its
# host who reads the page); a Markdown image becomes a link to it, named by its alt text.
TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "dl", "dt", "em",
    "h2", "h3", "h4", "h5", "h6", "hr", "i", "kbd", "li", "ol", "p", "pre", "s", "strong",
    "sub", "summary", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"align"}, "td": {"align"}}
URL_SCHEMES = {"http", "https", "mailto"}
CACHE_SIZE = 512


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": True, "linkify": False}).enable("table")

    def heading(_: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        # The page's own title is the h1: a description's headings start one level below.
        token = tokens[idx]
        level = min(int(token.tag[1]) + 1, 6)
        closing = token.nesting == -1
        return f"</h{level}>\n" if closing else f"<h{level}>"

    def image(_: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        token = tokens[idx]
        alt = "".join(t.content for t in token.children or [] if t.type == "text") or "image"
        src = md.utils.escapeHtml(str(token.attrGet("src") or ""))
        return f'<a href="{src}">{md.utils.escapeHtml(alt)}</a>'

    md.add_render_rule("heading_open", heading)
    md.add_render_rule("heading_close", heading)
    md.add_render_rule("image", image)
    return md


_MD = _parser()


def sanitise(html: str) -> str:
    return nh3.clean(
        html,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def render_uncached(markdown: str) -> str:
    return sanitise(_MD.render(markdown))


class RenderedCache:
    """Rendered descriptions by the sha256 of their Markdown, the least recently used going
    first; shared by the server's threads."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._kept: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()
        self.renders = 0  # how many were rendered (not found in the cache), for tests

    def render(self, markdown: str) -> str:
        key = hashlib.sha256(markdown.encode("utf-8", "surrogatepass")).hexdigest()
        with self._lock:
            html = self._kept.get(key)
            if html is not None:
                self._kept.move_to_end(key)
                return html
        html = render_uncached(markdown)
        with self._lock:
            self.renders += 1
            self._kept[key] = html
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)
        return html
