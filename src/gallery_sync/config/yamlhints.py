"""YAML syntax errors in a person's words: the parser's message, the line of the mistake, the fix.

libyaml says what it found where it gave up, which is often a line after the mistake (a key
without its colon is noticed at the next key) and never says what to write instead. Each hint
below recognises one common mistake from the parser's words and the source line, points at the
line to edit and says how to fix it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import yaml
from yaml.reader import ReaderError

# `key: value` on one line, the key plain, optionally as the first key of a list item.
_KEY_VALUE = re.compile(
    r"^(?P<lead>\s*(?:-\s+)?)(?P<key>[^\s:#'\"{}\[\],&*!|>%@`][^:#]*?):\s+(?P<value>.*?)\s*$"
)


@dataclass(frozen=True, slots=True)
class _Source:
    """The file's lines, to quote the line of a mistake and look at its neighbours."""

    lines: list[str]

    @classmethod
    def of(cls, data: bytes) -> _Source:
        text = data.decode("utf-8", "replace").removeprefix("\ufeff")
        return cls(text.replace("\r\n", "\n").split("\n"))

    def line(self, number: int) -> str:
        """Line `number` (1-based), '' past the end."""
        return self.lines[number - 1] if 0 < number <= len(self.lines) else ""

    def previous(self, number: int) -> int:
        """The nearest line above `number` with content (not blank, not only a comment)."""
        for n in range(number - 1, 0, -1):
            stripped = self.line(n).strip()
            if stripped and not stripped.startswith("#"):
                return n
        return 0


@dataclass(frozen=True, slots=True)
class _Found:
    """What the parser reported: its words and its two places (1-based), and the source."""

    problem: str
    context: str
    line: int
    column: int
    context_line: int
    context_column: int
    source: _Source

    @property
    def text(self) -> str:
        return self.source.line(self.line)


# A hint: the line, column and words for a mistake it recognises, or None.
_Hint = Callable[[_Found], "tuple[int, int, str] | None"]


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip(" "))


def _key_column(text: str) -> int:
    """1-based column of a line's first key: after its indentation and any '- ' markers."""
    match = re.match(r"^[ ]*(?:-[ ]+)*", text)
    return (match.end() if match else 0) + 1


def _spaces(n: int) -> str:
    return f"{n} space{'s' if n != 1 else ''}"


SHOWN_INPUT = 80  # characters of the file quoted in a message: a hostile line must not flood it
MAX_MESSAGE = 400


def _cut(text: str, limit: int = SHOWN_INPUT) -> str:
    """Text quoted from the file, cut: `kkkk… (5,000 characters)`."""
    return text if len(text) <= limit else f"{text[: limit - 1]}… ({len(text):,} characters)"


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _open_quote(text: str) -> str | None:
    """The quote a line's value opens and does not close on that line, if any."""
    match = re.match(r"^\s*(?:-\s+)*(?:[^\s'\"#][^:#]*?:\s+)?(?P<value>[\"'].*)$", text)
    if match is None:
        return None
    value = match["value"]
    quote = value[0]
    body = (
        value[1:].replace("\\\\", "").replace('\\"', "")
        if quote == '"'
        else value[1:].replace("''", "")
    )
    return quote if quote not in body else None


def _unclosed_quote_above(found: _Found) -> tuple[int, int, str] | None:
    """A quote left open reads on, lines down, to the next quote; the parser fails there."""
    block = ("expected key", "'-' indicator", "mapping values", "could not find expected ':'")
    if not any(words in found.problem for words in block):
        return None
    for number in range(1, found.line):
        text = found.source.line(number)
        quote = _open_quote(text)
        if quote is not None:
            return (
                number,
                text.index(quote) + 1,
                f"the quote {quote} opened on line {number} is not closed on that line, so YAML "
                f"read on to line {found.line} — end the value with {quote}",
            )
    return None


def _colon_in_value(found: _Found) -> tuple[int, int, str] | None:
    """`title: Sentiment: Chinese`: a second ': ' on a line makes YAML read a nested mapping."""
    if "mapping values are not allowed" not in found.problem:
        return None
    match = _KEY_VALUE.match(found.text)
    if match and ": " in match["value"] + " ":
        fixed = f"{match['lead'].strip()} {match['key']}: {_quoted(match['value'])}".strip()
        return (
            found.line,
            found.column,
            f"a value containing ': ' must be quoted: {fixed}",
        )
    return None


def _continued_line(found: _Found) -> tuple[int, int, str] | None:
    """`key: value` that YAML read as the continuation of the line above: the line above has no
    ':' (a missing colon), or this key is indented deeper than its siblings."""
    if "mapping values are not allowed" not in found.problem:
        return None
    if found.column > 1024 and ":" not in found.text[: found.column - 1].strip():
        return (
            found.line,
            _indent(found.text) + 1,
            "this key is longer than YAML allows a key to be (1,024 characters); shorten it",
        )
    above = found.source.previous(found.line)
    above_text = found.source.line(above)
    if not above:
        return None
    if ":" not in above_text and _indent(above_text) == _indent(found.text):
        return (
            above,
            _indent(above_text) + 1,
            f"line {above} {_cut(above_text.strip())!r} is not a 'key: value' — a key needs ': ' "
            "after it (or quote the whole line if it is text)",
        )
    if _indent(found.text) > _indent(above_text):
        return (
            found.line,
            _indent(found.text) + 1,
            f"this key is indented deeper than line {above} above it; keys of one mapping line "
            f"up (put it at column {_indent(above_text) + 1}, or under a key that ends with ':')",
        )
    return None


def _tab(found: _Found) -> tuple[int, int, str] | None:
    if "cannot start any token" not in found.problem:
        return None
    char = found.text[found.column - 1 : found.column]
    if char == "\t":
        return (
            found.line,
            found.column,
            "a tab indents this line; YAML indents with spaces only — replace the tab with spaces",
        )
    match = _KEY_VALUE.match(found.text)
    if match and char:
        return (
            found.line,
            found.column,
            f"a plain value cannot start with {char!r} — quote it: {_cut(match['key'])}: "
            f"{_cut(_quoted(match['value']))}",
        )
    return None


def _unclosed_quote(found: _Found) -> tuple[int, int, str] | None:
    if "quoted scalar" not in found.context or "end of stream" not in found.problem:
        return None
    quote = found.source.line(found.context_line)[found.context_column - 1 : found.context_column]
    return (
        found.context_line,
        found.context_column,
        f"the quote {quote} opened here is never closed — end the value with {quote} on this "
        "line (inside double quotes write \\\" for a quote; inside single quotes write '')",
    )


def _unclosed_flow(found: _Found) -> tuple[int, int, str] | None:
    kinds = {"flow sequence": ("[", "]", "list"), "flow mapping": ("{", "}", "mapping")}
    kind = next((k for k in kinds if k in found.context), None)
    if kind is None:
        return None
    opened, closed, noun = kinds[kind]
    if found.line != found.context_line:
        return (
            found.context_line,
            found.context_column,
            f"the {opened} opened here is not closed before line {found.line} — end the {noun} "
            f"with {closed}",
        )
    return (
        found.line,
        found.column,
        f"expected ',' or {closed} here — separate the items of a {opened}...{closed} {noun} with "
        f"', ', and quote an item that contains ',', ':' or {closed}",
    )


def _missing_colon(found: _Found) -> tuple[int, int, str] | None:
    """A line that is neither `key: value` nor `- item`, noticed only at the next line."""
    if "simple key" not in found.context:
        return None
    text = found.source.line(found.context_line)
    return (
        found.context_line,
        found.context_column,
        f"{_cut(text.strip())!r} is not a 'key: value' — a key needs ': ' after it (a list item "
        "starts with '- ')",
    )


def _misindented_key(found: _Found) -> tuple[int, int, str] | None:
    if "expected key" not in found.problem and "'-' indicator" not in found.problem:
        return None
    text = found.text
    if text.lstrip().startswith("- ") and "expected key" in found.problem:
        return (
            found.line,
            found.column,
            "a list item ('- ') where a key was expected: the entries of a mapping are all "
            "'key: value' — put the list under a key of its own, indented below it",
        )
    opener = found.source.line(found.context_line)
    if "'-' indicator" in found.problem:
        # The keys of a list item line up with the first key after its '- '.
        dash = opener[found.context_column - 1 :]
        column = found.context_column + len(dash) - len(dash[1:].lstrip(" "))
        if opener.lstrip().startswith("-") and not text.lstrip().startswith("-"):
            return (
                found.line,
                _indent(text) + 1,
                f"this line is indented {_spaces(_indent(text))}, which lines up with nothing "
                f"above: the keys of the list item at line {found.context_line} start at column "
                f"{column} — indent it to that column (or start a new item with '- ')",
            )
        return None
    above = found.source.previous(found.line)
    return (
        found.line,
        _indent(text) + 1,
        f"this line is indented {_spaces(_indent(text))}, which lines up with no key above it "
        f"(the key on line {above} starts at column {_key_column(found.source.line(above))}): "
        "the keys of one mapping start at the same column",
    )


def _item_after_key(found: _Found) -> tuple[int, int, str] | None:
    """`key: - item`: a list cannot start on its key's line."""
    if "block sequence entries are not allowed" not in found.problem:
        return None
    return (
        found.line,
        found.column,
        "a list cannot start on the line of its key — put each '- item' on a line of its own, "
        "indented below the key, or write [item, ...], or quote the value if it is text",
    )


def _second_document(found: _Found) -> tuple[int, int, str] | None:
    if "single document" not in found.context:
        return None
    return (
        found.line,
        found.column,
        "a gallery file holds one YAML document — remove this '---' (and what follows), or put "
        "each document in a file of its own and pass the directory with -f",
    )


def _undefined_alias(found: _Found) -> tuple[int, int, str] | None:
    if "undefined alias" not in found.problem:
        return None
    name = re.match(r"\*?([^\s,\]}]*)", found.text[found.column - 1 :])
    alias = name[1] if name else ""
    return (
        found.line,
        found.column,
        f"*{alias} names no anchor: define &{alias} on a value above it, or quote the value if "
        "'*' is meant as text",
    )


def _escape(found: _Found) -> tuple[int, int, str] | None:
    if "escape character" not in found.problem:
        return None
    return (
        found.line,
        found.column,
        "inside double quotes a backslash starts an escape (\\n, \\t, \\\\) — write \\\\ for a "
        "backslash, or use single quotes",
    )


# The parser's words that read badly on their own, said plainly.
_WORDS = {
    "but found another document": "found a second document",
    "second occurrence": "this anchor is defined twice",
}

_HINTS: tuple[_Hint, ...] = (
    _unclosed_quote_above,
    _colon_in_value,
    _continued_line,
    _tab,
    _unclosed_quote,
    _unclosed_flow,
    _missing_colon,
    _misindented_key,
    _item_after_key,
    _second_document,
    _undefined_alias,
    _escape,
)


def syntax_problem(exc: yaml.MarkedYAMLError, data: bytes) -> tuple[int, int, str]:
    """(line, column, message) of a parse error: the parser's words, with a fix where known."""
    mark = exc.problem_mark or exc.context_mark
    context = exc.context_mark or mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = str(exc.problem or "").replace("in this context", "here")
    problem = _WORDS.get(problem, problem)
    found = _Found(
        problem,
        str(exc.context or ""),
        line,
        col,
        context.line + 1 if context else line,
        context.column + 1 if context else col,
        _Source.of(data),
    )
    words = " ".join(p for p in (found.context, problem) if p)
    for hint in _HINTS:
        fixed = hint(found)
        if fixed is not None:
            line, col, advice = fixed
            return line, col, _cut(f"{problem} — {advice}", MAX_MESSAGE)
    return line, col, _cut(words, MAX_MESSAGE)


def reader_problem(exc: ReaderError, data: bytes) -> tuple[int, int, str]:
    """(line, column, message) of bytes that are not YAML text: invalid UTF-8, control chars."""
    position = max(0, min(int(exc.position), len(data)))
    start = data.rfind(b"\n", 0, position) + 1
    line = data.count(b"\n", 0, position) + 1
    col = len(data[start:position].decode("utf-8", "replace")) + 1
    if exc.reason.startswith("invalid") or "UTF-8" in str(exc.reason):
        byte = data[position : position + 1].hex().upper() or "?"
        return (
            line,
            col,
            f"byte 0x{byte} is not UTF-8 text — save the file as UTF-8",
        )
    code = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "?")
    char = f"U+{code:04X}"
    if code == 0 and data.count(b"\x00") * 3 > len(data):
        return (
            line,
            col,
            "the file is full of NUL bytes: UTF-16 without a byte order mark, or not a text file; "
            "gallery files are UTF-8 — save it as UTF-8",
        )
    return (
        line,
        col,
        f"the control character {char} is not allowed in YAML — remove it (inside double quotes, "
        "write it as an escape such as \\t or \\x07 if it is meant)",
    )
