"""Values shown on a terminal: every control character a value could carry, made visible.

Titles, notes, file names, messages and application names come from configs, galleries and
file systems that may be hostile. Printed raw, ESC/OSC sequences, C1 controls (U+0080-U+009F,
U+009B is a CSI on many terminals) and bidirectional overrides (U+202E) could retitle the
window, move the cursor, hide text or make a line read backwards. Each becomes a visible
escape (`\\x1b`, `\\u202e`); a backslash stays as it is.
"""

from __future__ import annotations

import re

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
