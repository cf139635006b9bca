"""YAML text for gallery files, written by hand: ~30x faster than PyYAML's pure-Python emitter.

Only what a gallery file is made of: block mappings and lists of strings, integers and
booleans. A string is written plain when it is certainly read back as the same string (a
conservative character set, and YAML 1.1's implicit types ruled out), as a literal block when
it has several lines that a block keeps exactly, and otherwise double-quoted with JSON's
escapes (valid YAML 1.1 and 1.2), every character outside YAML's printable set escaped too.
"""

from __future__ import annotations

import json
import re
from typing import Any

from gallery_sync.config.yamlload import resolves_to_itself

# Plain is safe for these: no indicator first, no `: `, ` #`, quote, bracket or comma anywhere.
_PLAIN = re.compile(r"[A-Za-z](?:[A-Za-z0-9_.()/ -]*[A-Za-z0-9_.()/-])?\Z")
# First letters of YAML 1.1's implicit types (true, false, yes, no, on, off, null): a plain
# scalar starting with one is checked against them.
_MAYBE_TYPED = frozenset("yYnNtTfFoO")
# What YAML calls printable, less the characters YAML 1.1 reads as line breaks (NEL, LS, PS),
# the byte order mark and the bidi controls that make a reviewed diff read other than it is
# (CVE-2021-42574): a double-quoted string escapes everything else; a literal block, which
# cannot escape, is used only for text without them (and without tabs and carriage returns).
_KEPT = (
    "\x20-\x7e\xa0-\u2027\u202f-\u2065\u206a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff"
)
_UNPRINTABLE = re.compile(f"[^\t\n{_KEPT}]")
_NOT_IN_BLOCK = re.compile(f"[^\n{_KEPT}]")
# Booleans in other YAML 1.1 readers (PyYAML reads them as strings): quoted for those.
_BOOL_ELSEWHERE = frozenset({"y", "Y", "n", "N"})


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def quoted(text: str) -> str:
    """`text` as a double-quoted scalar on one line."""
    body = json.dumps(text, ensure_ascii=False)
    return _UNPRINTABLE.sub(_escape, body) if _UNPRINTABLE.search(body) else body


def scalar(text: str) -> str:
    """A string as a one-line scalar: plain where that reads back the same, else quoted."""
    if _PLAIN.match(text) and (text[0] not in _MAYBE_TYPED or _plain_safe(text)):
        return text
    return quoted(text)


def _plain_safe(text: str) -> bool:
    return text not in _BOOL_ELSEWHERE and resolves_to_itself(text)


def string_value(text: str, indent: str) -> str:
    """A string as the value after `key:`, with a literal block for multi-line text that a
    block keeps exactly (lines of the block indented by `indent`, the key's indent + 2)."""
    if "\n" not in text or _NOT_IN_BLOCK.search(text):
        return " " + scalar(text)
    body = text.rstrip("\n")
    if not body.strip(" \n"):
        return " " + quoted(text)
    trailing = len(text) - len(body)
    chomp = "-" if trailing == 0 else "" if trailing == 1 else "+"
    # An indentation indicator when the first line starts with a space, which auto-detection
    # would take for indentation.
    first = next(line for line in body.split("\n") if line)
    hint = "2" if first.startswith(" ") else ""  # relative to the key: `indent` is 2 more
    lines = [indent + line if line else "" for line in body.split("\n")]
    lines += [""] * (trailing - 1)
    return f" |{hint}{chomp}\n" + "\n".join(lines)


def value(data: Any, indent: str) -> str:
    """Any JSON-like value as the text after `key:` (leading space or newline included), for
    a block at `indent`."""
    kind = type(data)
    if kind is str:
        if "\n" in data:
            return string_value(data, indent)
        return " " + scalar(data)
    if kind is bool:
        return " true" if data else " false"
    if kind is int:
        return f" {data}"
    if data is None:
        return " null"
    if kind is dict:
        return "\n" + mapping(data, indent) if data else " {}"
    if kind is list:
        return "\n" + sequence(data, indent) if data else " []"
    raise TypeError(f"cannot write {kind.__name__} in a gallery file")


def mapping(data: dict[str, Any], indent: str) -> str:
    """A block mapping whose keys start at `indent`, ending without a newline."""
    inner = indent + "  "
    return "\n".join([f"{indent}{_key(k, indent)}:{value(v, inner)}" for k, v in data.items()])


def _key(key: str, indent: str) -> str:
    """A key; YAML caps an implicit key at 1024 characters, so a longer one is explicit."""
    text = scalar(key)
    return text if len(text) < 1000 else f"? {text}\n{indent}"


def sequence(items: list[Any], indent: str) -> str:
    """A block list whose dashes start at `indent` (indented under their key, as people write
    them); a mapping item continues on the dash's line."""
    inner = indent + "  "
    out = []
    for item in items:
        if isinstance(item, dict) and item:
            out.append(f"{indent}- " + mapping(item, inner)[len(inner) :])
        elif isinstance(item, list) and item:
            out.append(f"{indent}-\n" + sequence(item, inner))
        elif type(item) is str:
            out.append(f"{indent}- {scalar(item)}")  # one line: a block needs a key's indent
        else:
            out.append(f"{indent}-{value(item, inner)}")
    return "\n".join(out)


def document(data: dict[str, Any]) -> str:
    """A whole file: a top-level mapping, ending with a newline."""
    return mapping(data, "") + "\n" if data else "{}\n"
