"""YAML with positions, paid for only when asked.

Two readers of the same bytes. The fast one builds plain data straight from libyaml's C event
stream: no node tree, no positions, no event objects (see _tokens), about 1.05x the bare event
parse (`yaml.parse`). It handles what gallery
files are made of (mappings, lists, plain and quoted scalars) and hands anything else (anchors,
aliases, merge keys, tags, repeated keys, deep nesting, syntax errors) to the full reader: the C
composer and a hand walk that records every key's line and column, refuses repeated keys and
YAML bombs. A document read fast runs the full reader only when a diagnostic asks for a place.

Only YAML's JSON-like types are read: a tag outside them (`!!python/object`, `!!set`, `!local`)
is refused at its line, on a scalar, a list or a mapping alike. Values YAML reads as something
JSON has no word for (dates, timestamps, `!!binary`, integers too long to read) are kept as they
are, for the schema check to refuse where a string or a number is expected.
"""

from __future__ import annotations

import gc
import re
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import yaml
from yaml.constructor import SafeConstructor
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.reader import ReaderError
from yaml.resolver import Resolver

from gallery_sync.config.yamlhints import reader_problem, syntax_problem
from gallery_sync.diagnostics import Diagnostic, Place

MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 64
# A document without aliases has fewer nodes than bytes; aliases may add this many on top.
NODE_ALLOWANCE = 100_000

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR = "tag:yaml.org,2002:str"
_NULL = "tag:yaml.org,2002:null"
_MERGE = "tag:yaml.org,2002:merge"
_CONSTRUCTOR = SafeConstructor()
# Plain scalars that may be something other than a string, by first character (as Resolver).
_IMPLICIT: dict[str, list[tuple[str, re.Pattern[str]]]] = Resolver.yaml_implicit_resolvers
_INT = "tag:yaml.org,2002:int"
_SCALAR_TYPES = {
    tag: SafeConstructor.yaml_constructors[tag]
    for tag in (
        "tag:yaml.org,2002:bool",
        _INT,
        "tag:yaml.org,2002:float",
        "tag:yaml.org,2002:timestamp",
        "tag:yaml.org,2002:binary",
    )
}
# The tags a gallery file may carry, by node kind: YAML's JSON-like types (and timestamps and
# binary, which the schema check refuses by name where they stand).
_ALLOWED_TAGS: dict[type[Node], frozenset[str]] = {
    ScalarNode: frozenset({_STR, _NULL, *_SCALAR_TYPES}),
    SequenceNode: frozenset({"tag:yaml.org,2002:seq"}),
    MappingNode: frozenset({"tag:yaml.org,2002:map"}),
}
_KEY_TAGS = _ALLOWED_TAGS[ScalarNode] | {_MERGE}
_NODE_KIND = {ScalarNode: "a value", SequenceNode: "a list", MappingNode: "a mapping"}
_UTF16_32_BOMS = {
    b"\xff\xfe\x00\x00": "UTF-32",
    b"\x00\x00\xfe\xff": "UTF-32",
    b"\xff\xfe": "UTF-16",
    b"\xfe\xff": "UTF-16",
}

Path_ = tuple[Any, ...]


class Stream(Protocol):
    """A file libyaml reads piece by piece (`read(size)`), never held whole."""

    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(slots=True)
class Document:
    """One parsed YAML file: its data, where each key/item stood, and the problems found."""

    file: str
    data: Any = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    source: bytes = b""
    # Or how to read them again: a config's loader lets its bytes go after load (10 MiB of a
    # 10,000-asset file, held through the whole plan otherwise) and, for a place asked for
    # later, opens the file again as a stream that checks it is what was read first.
    reread: Callable[[], AbstractContextManager[Stream]] | None = None
    # Filled by the full reader, on demand for a document that was read fast.
    _positions: dict[Path_, tuple[int, int]] | None = None
    _raw: dict[Path_, str] | None = None

    @property
    def positions(self) -> dict[Path_, tuple[int, int]]:
        """path -> (line, column), 1-based: of the key for mapping entries, of the item in lists."""
        if self._positions is None:
            self._read_positions()
        assert self._positions is not None
        return self._positions

    @property
    def raw(self) -> dict[Path_, str]:
        """path -> source text of scalars that YAML read as something other than a string."""
        if self._raw is None:
            self._read_positions()
        assert self._raw is not None
        return self._raw

    def kept_data(self) -> Any:
        """The data, read again from the file's bytes if the loader has let it go."""
        if self.data is None and (self.source or self.reread is not None):
            self._read_positions()
        return self.data

    def _read_positions(self) -> None:
        # The same bytes again, read fast with marks: a document read fast once is plain
        # YAML, so the event stream gives every place without the full reader's node tree
        # (a third of the memory). The data comes back too if the loader let it go.
        with self._opened() as source, _gc_paused():
            try:
                data, self._positions, self._raw = _read_marked(source)
            except (_Unusual, _Unreadable, yaml.YAMLError):
                data = _NOT_READ
        if data is _NOT_READ:
            # Never read fast (refused before, or beyond the common subset): the full
            # reader, as at load.
            with self._opened() as source, _gc_paused():
                full = Document(self.file, _positions={}, _raw={})
                _read_full(full, source if isinstance(source, bytes) else source.read())
                data, self._positions, self._raw = full.data, full._positions, full._raw
        if self.data is None:
            self.data = data

    def marks(
        self, keep: Callable[[Path_], bool]
    ) -> tuple[dict[Path_, tuple[int, int]], dict[Path_, Any]] | None:
        """(line, column) of the kept paths only, and the values of the kept scalars: one read
        of the bytes that holds what the caller asked for and nothing else (the places of
        10,000 findings without those of every key). None when every place is known already
        (read by the full reader): `place` answers from those."""
        if self._positions is not None:
            return None
        with self._opened() as source, _gc_paused():
            try:
                _, positions, values = _read_marked(source, keep=keep)
            except (_Unusual, _Unreadable, yaml.YAMLError):
                positions = None
        if positions is None:
            self._read_positions()
            return None
        return positions, values

    def _opened(self) -> AbstractContextManager[bytes | Stream]:
        if self.source or self.reread is None:
            return nullcontext(self.source)
        return self.reread()

    def place(self, path: Path_) -> Place:
        """The place of `path`, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            pos = self.positions.get(path)
            if pos is not None:
                return Place(self.file, pos[0], pos[1])
            path = path[:-1]
        return Place(self.file, 1, 1)


@dataclass(frozen=True, slots=True)
class HugeNumber:
    """A YAML integer too long to read as a number (Python refuses over 4,300 digits: reading
    one costs time quadratic in its length), kept as its text for the schema check to refuse."""

    text: str

    def __str__(self) -> str:
        return self.text


class _TooLarge(Exception):
    pass


class _Unreadable(Exception):
    """A scalar whose tag's constructor refused its text."""


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Building many small objects triggers needless collections; none of them are cycles."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# Called with the top-level mapping as read so far, an asset's id and its body, for each
# entry of the top-level `assets` mapping as soon as it is read: what it returns is kept in
# the body's place (see load_yaml).
AssetReader = Callable[[dict[str, Any], str, Any], Any]


def load_yaml(data: bytes, file: str, *, on_asset: AssetReader | None = None) -> Document:
    """Parse one YAML document, never raising for bad input: problems become diagnostics.

    `on_asset` sees each asset's body as soon as the fast reader has read it, and what it
    returns is kept instead (a loader that takes the body keeps None: the parse of the whole
    file is never held). Only the fast reader calls it: a document it hands to the full reader
    keeps every body, as without `on_asset`."""
    doc = Document(file, source=data)
    encoding = next((name for bom, name in _UTF16_32_BOMS.items() if data.startswith(bom)), None)
    if encoding is not None:
        # YAML allows it, but git shows such a file as binary: a reviewer could not read its diff.
        doc.diagnostics.append(
            Diagnostic.of(
                "yaml-syntax",
                f"the file is {encoding} (it starts with a {encoding} byte order mark); gallery "
                "files are UTF-8 — save it as UTF-8",
                place=Place(file, 1, 1),
            )
        )
        return doc
    if len(data) > MAX_FILE_BYTES:
        doc.diagnostics.append(
            Diagnostic.of(
                "input-too-large",
                f"file is {len(data):,} bytes; the limit is {MAX_FILE_BYTES:,} (64 MiB)",
                place=Place(file, 1, 1),
            )
        )
        return doc
    with _gc_paused():
        try:
            doc.data = _read_fast(data, on_asset)
            return doc
        except (_Unusual, _Unreadable, yaml.YAMLError):
            pass  # the full reader says what it is, at its line
        doc._positions, doc._raw = {}, {}
        _read_full(doc, data)
    return doc


class _Unusual(Exception):
    """Something the fast reader leaves to the full one."""


# The keys whose values the fast reader keeps one string of, as list items (see _read_fast).
_REPEATED = frozenset({"version", "region", "status", "visibility"})

# The fast reader's tokens, one per event: a scalar is (value, plain) and a container's start
# or end one of these; anything the fast reader leaves to the full one is _ODD.
_MAP, _SEQ, _END, _SKIP, _DOC, _ODD = (object() for _ in range(6))
_Token = Any


def _scalar_token(anchor: Any, tag: Any, implicit: tuple[bool, bool], value: str, *_: Any) -> Any:
    return (value, implicit[0]) if anchor is None and tag is None else _ODD


def _start_token(kind: Any) -> Callable[..., Any]:
    def start(anchor: Any, tag: Any, *_: Any) -> Any:
        return kind if anchor is None and tag is None else _ODD

    return start


_SEQUENCE_START, _MAPPING_START = _start_token(_SEQ), _start_token(_MAP)


# libyaml's Cython parser (yaml._yaml) makes each event by calling the event class it imported
# from yaml.events, whose __init__ is Python: a third of the reader's time in a 10,000-asset
# file's 800,000 events (0.48 s of get_event, 0.37 s with these). The fast reader puts these
# callables in their place, in that module, for as long as it reads: each returns a token and
# builds no event. See _tokens.
_TOKEN_MAKERS: dict[str, Callable[..., Any]] = {
    "StreamStartEvent": lambda *_: _SKIP,
    "StreamEndEvent": lambda *_: None,
    "DocumentStartEvent": lambda *_: _DOC,
    "DocumentEndEvent": lambda *_: _SKIP,
    "AliasEvent": lambda *_: _ODD,
    "ScalarEvent": _scalar_token,
    "SequenceStartEvent": _SEQUENCE_START,
    "MappingStartEvent": _MAPPING_START,
    "SequenceEndEvent": lambda *_: _END,
    "MappingEndEvent": lambda *_: _END,
}
# The same tokens from real events: where the event classes cannot be swapped (PyYAML without
# its C extension, or one whose parser no longer finds them in its module's globals).
_TOKEN_OF: dict[type, Callable[[Any], Any]] = {
    StreamStartEvent: lambda e: _SKIP,
    DocumentStartEvent: lambda e: _DOC,
    DocumentEndEvent: lambda e: _SKIP,
    AliasEvent: lambda e: _ODD,
    ScalarEvent: lambda e: _scalar_token(e.anchor, e.tag, e.implicit, e.value),
    SequenceStartEvent: lambda e: _SEQUENCE_START(e.anchor, e.tag),
    MappingStartEvent: lambda e: _MAPPING_START(e.anchor, e.tag),
    SequenceEndEvent: lambda e: _END,
    MappingEndEvent: lambda e: _END,
}
# Held while the event classes are swapped, and by every other reader of events (which need
# real ones, with their marks): a reader in another thread never sees a token.
_EVENTS = threading.Lock()


@contextmanager
def _tokens(data: bytes) -> Iterator[Callable[[], _Token]]:
    """The token of each event of `data` in turn, then None: from libyaml's parser with its
    event classes swapped for _TOKEN_MAKERS, and put back after, however the read ends."""
    events = sys.modules.get("yaml._yaml") if _Loader is not yaml.SafeLoader else None
    with _EVENTS:
        saved = {n: getattr(events, n) for n in _TOKEN_MAKERS if hasattr(events, n)}
        try:
            for name in saved:
                setattr(events, name, _TOKEN_MAKERS[name])
            parser = _Loader(data)
            try:
                get_event = parser.get_event
                first = get_event()
                if first is not _SKIP:  # the swap did not take: real events, made into tokens
                    yield _real_tokens(parser, first)
                else:
                    yield get_event
            finally:
                parser.dispose()
        finally:
            for name, original in saved.items():
                setattr(events, name, original)


def _real_tokens(parser: Any, first: Any) -> Callable[[], _Token]:
    get_event = parser.get_event
    pending = [first]

    def next_token() -> _Token:
        event = pending.pop() if pending else get_event()
        if event is None or type(event) is StreamEndEvent:
            return None
        return _TOKEN_OF[type(event)](event)

    return next_token


def _read_fast(data: bytes, on_asset: AssetReader | None = None) -> Any:
    """Plain data from the event stream, or _Unusual for anything beyond the common subset."""
    resolvable = _IMPLICIT.keys()
    resolved: dict[str, Any] = {}
    names: dict[str, str] = {}
    with _tokens(data) as next_token:
        # The enclosing (container, is_mapping) of each open level.
        stack: list[tuple[Any, bool]] = []
        root: Any = None
        current: Any = None
        in_mapping = False
        key: str | None = None
        documents = 0
        while True:
            token = next_token()
            if token.__class__ is tuple:
                value, plain = token
                if in_mapping and key is None:
                    if value in current or (value == "<<" and plain):
                        raise _Unusual  # a repeated key, or a merge key
                    # One string per distinct key, as json.loads keeps them: a gallery file
                    # names the same dozen keys 10,000s of times.
                    key = names.setdefault(value, value)
                    continue
                if plain and value[:1] in resolvable:
                    # Plain values that may be typed repeat (1.0.0, true, 90): resolved once.
                    found = resolved.get(value, resolved)
                    if found is resolved:
                        found = resolved[value] = _resolve_plain(value)
                    value = found
                elif not in_mapping or key in _REPEATED:
                    # Names that repeat across assets (regions, version numbers, categories,
                    # users) kept once: 7 MiB of the 10,000-asset config's Assets.
                    value = names.setdefault(value, value)
            elif token is _END:
                current, in_mapping = stack.pop()
                key = None
                if (
                    on_asset is not None
                    and len(stack) == 2
                    and in_mapping
                    and root.__class__ is dict
                    and current is root.get("assets")
                ):
                    # An asset's body ends (the top-level mapping, then assets, are open).
                    assets = cast("dict[str, Any]", current)
                    asset_id = next(reversed(assets))
                    assets[asset_id] = on_asset(root, asset_id, assets[asset_id])
                continue
            elif token is _MAP or token is _SEQ:
                if len(stack) >= MAX_DEPTH or (in_mapping and key is None):
                    raise _Unusual  # too deep, or a list or mapping as a key
                value = {} if token is _MAP else []
            elif token is None:
                return root
            elif token is _SKIP:
                continue
            elif token is _DOC:
                documents += 1
                if documents > 1:
                    raise _Unusual  # the full reader refuses a second document
                continue
            else:
                raise _Unusual  # an anchor, an alias or a tag
            # Store the scalar or new container in the current one.
            if in_mapping:
                current[key] = value
                key = None
            elif current is not None:
                current.append(value)
            else:
                root = value
            if token is _MAP or token is _SEQ:
                stack.append((current, in_mapping))
                current, in_mapping = value, token is _MAP


_NOT_READ: Any = object()


def _read_marked(
    data: bytes | Stream, *, keep: Callable[[Path_], bool] | None = None
) -> tuple[Any, dict[Path_, tuple[int, int]], dict[Path_, Any]]:
    """What `_read_fast` reads, with the place of every key and item and the text of every
    scalar read as something other than a string: only for bytes `_read_fast` accepted.

    With `keep`: no data (None), the places of the kept paths only, and (in place of the
    texts) the values of the kept scalars."""
    everything = keep is None
    kept = keep if keep is not None else _any_path
    with _EVENTS:
        return _read_marked_events(_Loader(data), everything, kept)


def _read_marked_events(
    parser: Any, everything: bool, kept: Callable[[Path_], bool]
) -> tuple[Any, dict[Path_, tuple[int, int]], dict[Path_, Any]]:
    positions: dict[Path_, tuple[int, int]] = {}
    raw: dict[Path_, Any] = {}
    try:
        get_event = parser.get_event
        # (container, is_mapping, path) of each open level; `index` counts list items.
        stack: list[tuple[Any, bool, Path_, int]] = []
        root: Any = None
        current: Any = None
        in_mapping = False
        path: Path_ = ()
        index = 0
        key: str | None = None
        while True:
            event = get_event()
            if event is None:
                return root, positions, raw
            kind = type(event)
            if kind is MappingEndEvent or kind is SequenceEndEvent:
                current, in_mapping, path, index = stack.pop()
                key = None
                continue
            if (
                kind is not ScalarEvent
                and kind is not MappingStartEvent
                and (kind is not SequenceStartEvent)
            ):
                if kind is AliasEvent:
                    raise _Unusual
                continue
            if event.anchor is not None or event.tag is not None:
                # A document the full reader read (its data let go, read again for a place):
                # anchors, aliases, tags and merge keys are its business, as at load.
                raise _Unusual
            mark = event.start_mark
            if in_mapping and key is None:
                key = event.value
                if kind is not ScalarEvent or (key == "<<" and event.implicit[0]):
                    raise _Unusual
                key_path: Path_ = (*path, key)
                if everything or kept(key_path):
                    positions[key_path] = (mark.line + 1, mark.column + 1)
                continue
            if in_mapping:
                here: Path_ = (*path, key)
            elif current is not None:
                here = (*path, index)
                if everything or kept(here):
                    positions[here] = (mark.line + 1, mark.column + 1)
                index += 1
            else:
                here = ()
            if kind is ScalarEvent:
                value: Any = event.value
                if not everything:
                    if kept(here):
                        raw[here] = _resolve_plain(value) if event.implicit[0] else value
                    value = None
                elif event.implicit[0]:
                    value = _resolve_plain(value)
                    if not isinstance(value, str) and (value is not None or event.value):
                        raw[here] = event.value
            else:
                value = {} if kind is MappingStartEvent else []
            # With `keep`, containers stay empty: each open level's only marks where it is.
            if in_mapping:
                if everything:
                    current[key] = value
                key = None
            elif current is not None:
                if everything:
                    current.append(value)
            elif everything:
                root = value
            if kind is not ScalarEvent:
                stack.append((current, in_mapping, path, index))
                current, in_mapping, path, index = value, kind is MappingStartEvent, here, 0
    finally:
        parser.dispose()


def _any_path(path: Path_) -> bool:
    return True


def _resolve_plain(value: str) -> Any:
    """A plain scalar's value under YAML 1.1's implicit types, as the SafeLoader reads it."""
    resolvers = _IMPLICIT.get(value[:1])
    if resolvers is None:
        return value
    for tag, pattern in resolvers:
        if pattern.match(value):
            if tag == _NULL:
                return None
            if tag not in _SCALAR_TYPES:
                raise _Unusual  # merge, value and yaml tags: the full reader's business
            return _construct(tag, value)
    return value


def resolves_to_itself(text: str) -> bool:
    """Whether `text`, written plain, is read back as this string (no implicit type matches)."""
    resolvers = _IMPLICIT.get(text[:1])
    return resolvers is None or not any(pattern.match(text) for _, pattern in resolvers)


def _construct(tag: str, value: str) -> Any:
    """A scalar's value under its tag; _Unreadable when the tag's constructor refuses the text
    (an impossible date, bad base64), a HugeNumber for an integer too long to read."""
    try:
        return _SCALAR_TYPES[tag](_CONSTRUCTOR, ScalarNode(tag, value))
    except (ValueError, TypeError, yaml.YAMLError) as exc:
        if tag == _INT and value.lstrip("+-").replace("_", "").isdigit():
            return HugeNumber(value)
        raise _Unreadable(str(exc)) from None


def _read_full(doc: Document, data: bytes) -> None:
    """The node tree read with positions, repeated keys and bombs refused."""
    file = doc.file
    try:
        loader = _Loader(data)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
        if node is not None:
            walker = _Walker(doc, budget=NODE_ALLOWANCE + len(data))
            doc.data = walker.walk(node, (), 0)
    except yaml.MarkedYAMLError as exc:
        line, col, what = syntax_problem(exc, data)
        doc.diagnostics.append(
            Diagnostic.of("yaml-syntax", f"not valid YAML: {what}", place=Place(file, line, col))
        )
        doc.data = None
    except ReaderError as exc:
        line, col, what = reader_problem(exc, data)
        doc.diagnostics.append(
            Diagnostic.of("yaml-syntax", f"not valid YAML: {what}", place=Place(file, line, col))
        )
        doc.data = None
    except yaml.YAMLError as exc:
        doc.diagnostics.append(
            Diagnostic.of("yaml-syntax", f"not valid YAML: {exc}", place=Place(file, 1, 1))
        )
        doc.data = None
    except (_TooLarge, RecursionError) as exc:
        doc.diagnostics.append(
            Diagnostic.of(
                "input-too-large",
                str(exc) or "nesting too deep",
                # The top-level key whose value blew up: inner paths run through anchors.
                place=doc.place(getattr(exc, "path", ())[: None if _exact(exc) else 1]),
            )
        )
        doc.data = None


class _Walker:
    """Builds plain Python data from a node tree, recording positions on the way."""

    def __init__(self, doc: Document, *, budget: int) -> None:
        self.doc = doc
        self.budget = budget

    def walk(self, node: Node, path: Path_, depth: int) -> Any:
        self.budget -= 1
        if self.budget < 0:
            err = _TooLarge(
                "the document expands to more nodes than it has bytes (alias expansion, "
                "a 'billion laughs' YAML bomb?); refused"
            )
            err.path = path  # type: ignore[attr-defined]
            raise err
        if depth > MAX_DEPTH:
            err = _TooLarge(f"nesting deeper than {MAX_DEPTH} levels; refused")
            err.path = path  # type: ignore[attr-defined]
            err.exact = True  # type: ignore[attr-defined]  # no alias in between: its own line
            raise err
        if node.tag not in _ALLOWED_TAGS.get(type(node), ()):
            self._refuse_tag(node)  # and read on as if untagged, to find every other problem
            if isinstance(node, ScalarNode):
                return node.value
        if isinstance(node, ScalarNode):
            return self._scalar(node, path)
        if isinstance(node, SequenceNode):
            items = []
            positions = self.doc.positions
            for index, child in enumerate(node.value):
                child_path = (*path, index)
                mark = child.start_mark
                positions[child_path] = (mark.line + 1, mark.column + 1)
                items.append(self.walk(child, child_path, depth + 1))
            return items
        if isinstance(node, MappingNode):
            return self._mapping(node, path, depth)
        raise yaml.YAMLError(f"unexpected node {node!r}")

    def _refuse_tag(self, node: Node) -> None:
        shown = _tag_shown(node.tag)
        self._diag(
            "yaml-syntax",
            f"the tag {shown} is not allowed: a gallery file holds plain YAML values (strings, "
            f"numbers, true/false, lists, mappings); remove {shown} from {_NODE_KIND[type(node)]}",
            node.start_mark,
        )

    def _diag(self, code: str, message: str, mark: Any) -> None:
        place = Place(self.doc.file, mark.line + 1, mark.column + 1)
        self.doc.diagnostics.append(Diagnostic.of(code, message, place=place))

    def _scalar(self, node: ScalarNode, path: Path_) -> Any:
        tag = node.tag
        if tag == _STR:
            return node.value
        if tag == _NULL:
            if node.value:
                self.doc.raw[path] = node.value  # `null`, `~`: the schema check shows the text
            return None
        self.doc.raw[path] = node.value
        try:
            return _construct(tag, node.value)
        except _Unreadable as exc:
            if node.style is None and node.tag in _implicit_tags(node.value):
                return node.value  # a plain `2001-13-45` is not a date: text, as meant
            self._diag(
                "yaml-syntax",
                f"{node.value!r} cannot be read as {_tag_shown(tag)}: {exc}",
                node.start_mark,
            )
            return node.value

    def _mapping(self, node: MappingNode, path: Path_, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        positions = self.doc.positions
        merges = [v for k, v in node.value if k.tag == _MERGE]
        for merged in merges:
            # `<<: *defaults` — explicit keys below win, as in YAML's merge key type.
            sources = merged.value if isinstance(merged, SequenceNode) else [merged]
            for source in sources:
                value = self.walk(source, path, depth + 1)
                if not isinstance(value, dict):
                    raise yaml.MarkedYAMLError(
                        problem="a merge key (<<) needs a mapping or a list of mappings",
                        problem_mark=source.start_mark,
                    )
                for key, item in value.items():
                    out.setdefault(key, item)
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                continue
            mark = key_node.start_mark
            line, col = mark.line + 1, mark.column + 1
            if not isinstance(key_node, ScalarNode):
                raise yaml.MarkedYAMLError(
                    problem="a mapping key must be a plain value, not a list or mapping",
                    problem_mark=mark,
                )
            if key_node.tag not in _KEY_TAGS:
                self._refuse_tag(key_node)
            # Keys are names: keep their source text (`on:` stays "on", `1.0:` stays "1.0").
            key = key_node.value
            if key in first_line:
                self.doc.diagnostics.append(
                    Diagnostic.of(
                        "duplicate-key",
                        f"key {key!r} is repeated (first at line {first_line[key]}); YAML "
                        "would silently keep only the last one. Remove one of them",
                        place=Place(self.doc.file, line, col),
                    )
                )
                continue
            first_line[key] = line
            child_path = (*path, key)
            positions[child_path] = (line, col)
            out[key] = self.walk(value_node, child_path, depth + 1)
        return out


def _exact(exc: BaseException) -> bool:
    return bool(getattr(exc, "exact", False))


def _implicit_tags(value: str) -> set[str]:
    """The tags a plain scalar of this text could resolve to."""
    return {tag for tag, pattern in _IMPLICIT.get(value[:1], ()) if pattern.match(value)}


def _tag_shown(tag: str) -> str:
    """A tag as it was written: `tag:yaml.org,2002:set` is `!!set`."""
    prefix = "tag:yaml.org,2002:"
    return "!!" + tag[len(prefix) :] if tag.startswith(prefix) else tag
