"""Values shown on a terminal: every control character a value could carry, made visible.

Titles, notes, file names, messages and application names come from configs, galleries and
file systems that may be hostile. Printed raw, ESC/OSC sequences, C1 controls (U+0080-U+009F,
U+009B is a CSI on many terminals) and bidirectional overrides (U+202E) could retitle the
window, move the cursor, hide text or make a line read backwards. Each becomes a visible
escape (`\\x1b`, `\\u202e`); a backslash stays as it is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

# C0 but tab and newline, DEL, C1; bidi embeddings, overrides and isolates; LRM/RLM/ALM;
# line and paragraph separators; zero-width and BOM characters that hide text.
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]"
)
_UNSAFE_ONE_LINE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]"
)
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal(text: str) -> str:
    """`text` safe to print: controls made visible; newlines and tabs kept (multi-line text)."""
    if text.isprintable():  # the common case, cheaply (isprintable is C)
        return text
    return _UNSAFE.sub(_visible, text)


def terminal_line(text: str) -> str:
    """`text` on one line: as `terminal`, and newlines and tabs made visible too."""
    if text.isprintable():
        return text
    return _UNSAFE_ONE_LINE.sub(_visible, text)


# --- JSON (plan, validate, apply, show, history --format json, saved plan files) -----------
# JSON itself escapes C0 controls; DEL, C1, bidi, separators and zero-width characters would
# reach a terminal raw. Outside strings JSON is ASCII, so each may be written as `\uXXXX`:
# the same JSON value, inert on a terminal. Other non-ASCII text stays readable.
_UNSAFE_JSON = re.compile("[\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def json_escaped(text: str) -> str:
    """JSON `text` with every character that could act on a terminal as a `\\u` escape."""
    return _UNSAFE_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def json_text(value: Any) -> str:
    """`value` as indented JSON for a terminal or a file, escaped as `json_escaped`."""
    return "".join(json_pieces(value))


JSON_PIECE = 1 << 16  # characters of JSON escaped and handed out at a time


def json_pieces(value: Any) -> Iterator[str]:
    """`json_text(value)` in pieces of ~64 K characters. json.dumps with an indent joins the
    encoder's millions of little strings at once (a list of them, and the text, and its
    escaped copy: validate's JSON of 10,000 errors peaked at 251 MiB); here a piece's only.
    One encoder for the whole value, as json.dumps: each makes closures that refer to each
    other, which the CLI (its collector off) would never free."""
    chunks: list[str] = []
    size = 0
    for chunk in json.JSONEncoder(indent=2, ensure_ascii=False).iterencode(value):
        chunks.append(chunk)
        size += len(chunk)
        if size > JSON_PIECE:
            yield json_escaped("".join(chunks))
            chunks, size = [], 0
    yield json_escaped("".join(chunks)) + "\n"


# --- GitHub workflow commands (`::error ...::message`) -------------------------------------
# The toolkit's own escaping (`%`, CR, LF as %25, %0D, %0A; `:` and `,` too in properties)
# keeps a value inside its command; the other controls are made visible as on a terminal.
_UNSAFE_WORKFLOW = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]"
)


def workflow_data(text: str) -> str:
    """A workflow command's message: controls visible, then the toolkit's escaping."""
    if not text.isprintable():
        text = _UNSAFE_WORKFLOW.sub(_visible, text)
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def workflow_property(text: str) -> str:
    """A workflow command's property value (file=, title=): as data, and `:` and `,` too."""
    return workflow_data(text).replace(":", "%3A").replace(",", "%2C")


# --- Markdown (a pull-request comment) -----------------------------------------------------
# A value must stay text: no HTML (a `</details>` would close our section, a `<img>` load a
# tracker), no inline link or image, no code span or table cell broken open, no controls.
# Emphasis (`*`, `_`) is left alone: it can restyle a value, never take the comment over.
_MARKDOWN = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    "`": "&#96;",
    "|": "&#124;",
    "](": "]&#40;",
}
# `](` is where a link or an image starts; a bracket alone links nowhere (a definition
# would have to start a line, and a value never does).
_MARKDOWN_SPECIAL = re.compile("[&<>`|]|\\]\\(")
# A backslash escapes the ASCII punctuation after it (`\&` would show an entity raw).
_BACKSLASH_ESCAPING = re.compile(r"\\(?=[!-/:-@\[-`{-~])")
_PLAIN_CODE = re.compile(r"[A-Za-z0-9.:/@+=,#-]*")


def markdown_text(text: str) -> str:
    """A value inline in Markdown (a list item, a table cell): on one line, inert."""
    text = _MARKDOWN_SPECIAL.sub(lambda m: _MARKDOWN[m.group()], terminal_line(text))
    return _BACKSLASH_ESCAPING.sub(r"\\\\", text)


def markdown_code(text: str) -> str:
    """A value as code: a backtick span when it is plain, else `<code>` with entities."""
    if _PLAIN_CODE.fullmatch(text):
        return f"`{text}`"
    return f"<code>{markdown_text(text)}</code>"


def markdown_fenced(text: str, info: str = "") -> list[str]:
    """Lines of a fenced code block holding `text`, with a fence no line can close."""
    text = terminal(text)
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + info, *text.split("\n"), fence]
