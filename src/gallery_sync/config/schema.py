"""The JSON Schema check: every violation, at its node's line, in a publisher's words."""

from __future__ import annotations

import datetime
import difflib
import json
import re
from collections.abc import Callable, Iterator
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

from gallery_sync.config.yamlload import Document, HugeNumber
from gallery_sync.diagnostics import Diagnostic

# What a pattern asks for, in words (keyed by the pattern itself, so the schema stays the source).
_PATTERN_WORDS = {
    "^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$": (
        "a slug of 3 to 64 lowercase letters, digits and '-', not starting or ending with '-'"
    ),
    "^[a-z0-9]+(-[a-z0-9]+)*$": "lowercase letters and digits, words joined by '-'",
    "^[a-z]{2,}(-[a-z]+)*-[0-9]+$": 'a region id like "cn-north-4"',
    "^(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)$": (
        'a string like "1.0.0" (three numbers, no leading zeros)'
    ),
    "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$": "a name of letters, digits, '_', '.' and '-'",
    "^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$": "a user name of letters, digits, '_', '.', '@', '-'",
    "^[^\\u0000-\\u001f\\u007f-\\u009f]*$": (
        "one line of text: a title holds no line break, tab or control character"
    ),
}
_TYPE_WORDS = {
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping",
    "null": "nothing",
}


@cache
def schema() -> dict[str, Any]:
    text = resources.files("gallery_sync").joinpath("schemas/gallery.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@cache
def ecma_regex(pattern: str) -> re.Pattern[str]:
    r"""A schema pattern (ECMA-262, as JSON Schema and editors read it) as Python must run it.

    Python's `$` also matches before a final newline, so `^[a-z]+$` would pass "flowers\n";
    in ECMA-262 (and in jsonschema-rs) `$` is the end of the text. Every `$` outside a character
    class becomes `\Z`, and \d, \w, \s mean ASCII as in ECMA-262.
    """
    out, i, in_class = [], 0, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "$":
            char = r"\Z"
        out.append(char)
        i += 1
    return re.compile("".join(out), re.ASCII)


def _pattern(validator: Any, pattern: str, instance: Any, part: Any) -> Iterator[ValidationError]:
    """The `pattern` keyword with ECMA-262's meaning of `$` (see ecma_regex)."""
    from jsonschema.exceptions import ValidationError

    if validator.is_type(instance, "string") and not ecma_regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


@cache
def validator() -> Draft202012Validator:
    """The explaining validator: slow, but it says where and why. Built once, on demand.

    Its `pattern` keyword reads patterns as the compiled validator does (ECMA-262), so the two
    always agree on what is valid.
    """
    from jsonschema import Draft202012Validator, validators

    strict = validators.extend(  # type: ignore[no-untyped-call]
        Draft202012Validator, {"pattern": _pattern}
    )
    built: Draft202012Validator = strict(schema())
    return built


@cache
def fast_is_valid() -> Callable[[Any], bool]:
    """A compiled validator for the common case, a valid document (~100x faster).

    A value JSON has no type for (a YAML date, binary, an integer too long to read) is not
    valid: the explaining validator then says where it is and what to write instead.
    """
    try:
        import jsonschema_rs
    except ImportError:  # no wheel for this platform: the explaining validator does it all
        return lambda data: not any(True for _ in validator().iter_errors(data))
    return _compiled(jsonschema_rs.validator_for(schema()))


# What the document's schema may say of itself and of `assets` for the two part checks to
# pass exactly when the whole does (fast_part_checks).
_PLAIN_OBJECT = {"$schema", "$id", "title", "description", "type", "additionalProperties"}
_PLAIN_ROOT = _PLAIN_OBJECT | {"required", "properties", "$defs"}
_PLAIN_ASSETS = _PLAIN_OBJECT | {"propertyNames"}


@cache
def fast_part_checks() -> tuple[Callable[[Any], bool], Callable[[Any], bool]] | None:
    """Compiled checks of a document's parts, for a loader that checks its assets as soon
    as they are read and lets their parsed bodies go (no whole parse held): (a mapping of
    assets' bodies by id, the document whatever its assets' bodies are). Together they pass
    exactly when `fast_is_valid` of the whole does, the schema putting nothing on the
    document that looks into an asset's body. None without jsonschema-rs, or for a schema
    not of that form."""
    try:
        import jsonschema_rs
    except ImportError:
        return None
    whole = schema()
    assets = whole.get("properties", {}).get("assets", {})
    asset = assets.get("additionalProperties")
    if not (
        set(whole) <= _PLAIN_ROOT
        and set(assets) <= _PLAIN_ASSETS
        and isinstance(asset, dict)
        and set(asset) == {"$ref"}
    ):
        return None
    top = {**whole, "properties": {**whole["properties"], "assets": {**assets}}}
    top["properties"]["assets"]["additionalProperties"] = True
    some: dict[str, Any] = {k: whole[k] for k in ("$schema", "$id", "$defs") if k in whole}
    some.update(type="object", additionalProperties=asset)
    return _compiled(jsonschema_rs.validator_for(some)), _compiled(jsonschema_rs.validator_for(top))


def _compiled(compiled: Any) -> Callable[[Any], bool]:
    def is_valid(data: Any) -> bool:
        try:
            return bool(compiled.is_valid(data))
        except (ValueError, TypeError, OverflowError):  # "Unsupported type: 'date'"
            return False

    return is_valid


def check_schema(doc: Document) -> list[Diagnostic]:
    """Every schema violation of one parsed document, as diagnostics at their lines."""
    if doc.data is None:
        return [
            Diagnostic.of(
                "schema",
                "the file is empty; expected a mapping with apiVersion, publisher and assets",
                place=doc.place(()),
            )
        ]
    if fast_is_valid()(doc.data):
        return []
    found = []
    for error in validator().iter_errors(doc.data):
        for path, message in _explain(error, doc):
            found.append(
                Diagnostic.of(
                    "schema",
                    message,
                    place=doc.place(path),
                    asset=_asset_of(path),
                    version=_version_of(doc.data, path),
                )
            )
    return found


def _explain(error: ValidationError, doc: Document) -> list[tuple[tuple[Any, ...], str]]:
    path = tuple(error.absolute_path)
    keyword = str(error.validator)
    instance: Any = error.instance
    value: Any = error.validator_value
    part: Any = error.schema
    name = _field_name(path)
    if keyword == "required":
        missing = [p for p in value if p not in instance]
        where = f"{name} " if name else ""
        return [(path, f"{where}is missing the required field {p!r}") for p in missing]
    if keyword == "additionalProperties":
        known = list(part.get("properties", {}))
        out = []
        for extra in sorted(set(instance) - set(known)):
            hint = difflib.get_close_matches(extra, known, n=1)
            guess = f" (did you mean {hint[0]!r}?)" if hint else ""
            out.append(
                (
                    (*path, extra),
                    f"unknown field {extra!r}{guess}; allowed here: {', '.join(known)}",
                )
            )
        return out
    if "propertyNames" in error.absolute_schema_path:
        # The error is about a key: point at the key itself.
        return [((*path, instance), f"asset id {instance!r} must be {_words(part)}")]
    if keyword in ("oneOf", "anyOf"):
        return _explain_choice(error, doc)
    if keyword == "not" and "required" in value:
        return [
            (
                (*path, value["required"][0]),
                "use either description or description_file, not both",
            )
        ]
    return [(path, f"{name}: {_describe(keyword, value, instance, path, doc, part)}")]


def _explain_choice(error: ValidationError, doc: Document) -> list[tuple[tuple[Any, ...], str]]:
    # A value that chose a branch (e.g. a mapping for visibility) and failed inside it is
    # explained by that branch's own errors; otherwise say what the choices are.
    deeper = [e for e in error.context or () if e.relative_path]
    if deeper:
        out: list[tuple[tuple[Any, ...], str]] = []
        for sub in deeper:
            out += _explain(sub, doc)
        return out
    branch_errors = [e for e in error.context or () if e.validator == "additionalProperties"]
    if branch_errors:
        return _explain(branch_errors[0], doc)
    path = tuple(error.absolute_path)
    part: Any = error.schema
    words = [w for branch in part.get(str(error.validator), []) for w in _choices(branch)]
    return [
        (
            path,
            f"{_field_name(path)}: {_shown(error.instance, path, doc)} is not allowed"
            f"{_did_you_mean(error.instance, words)}; expected "
            f"{_first_sentence(part.get('description', 'one of the documented forms'))}",
        )
    ]


def _choices(branch: Any) -> list[str]:
    """The words a oneOf/anyOf branch accepts as they stand (its enum or const)."""
    if not isinstance(branch, dict):
        return []
    if "const" in branch:
        return [str(branch["const"])]
    return [str(v) for v in branch.get("enum", [])]


def _did_you_mean(instance: Any, words: list[Any]) -> str:
    if not isinstance(instance, str):
        return ""
    close = difflib.get_close_matches(instance, [str(w) for w in words], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _range(part: Any) -> str:
    if isinstance(part, dict) and "minimum" in part and "maximum" in part:
        return f" from {part['minimum']} to {part['maximum']}"
    return ""


def _cut(text: str, length: int = 40) -> str:
    return text if len(text) <= length else text[:length] + "…"


def _quote(raw: str) -> str:
    return '"' + raw.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _describe(
    keyword: str, value: Any, instance: Any, path: tuple[Any, ...], doc: Document, part: Any
) -> str:
    shown = _shown(instance, path, doc)
    if keyword == "type":
        expected = _TYPE_WORDS.get(value, str(value))
        if isinstance(instance, HugeNumber):
            return (
                f"{_cut(instance.text)} has {len(instance.text):,} digits, far too many for a "
                f"number here; expected {expected}{_range(part)}"
            )
        if path and path[-1] == "version" and isinstance(instance, (int, float)):
            raw = doc.raw.get(path, str(instance))
            parts = [*raw.split("."), "0", "0"][:3] if raw.count(".") < 2 else [raw]
            return (
                f'expected a string like "1.0.0"; the YAML value {raw} is a number — quote it: '
                f'"{".".join(parts)}"'
            )
        written = doc.raw.get(path)
        if instance is None and written is None:
            return f"expected {expected}, got an empty value"
        if value == "string" and written is not None:
            # yes/no/on/off/null, dates and numbers are not strings to YAML unless quoted.
            return f"expected a string, got {_kind(instance)} {shown} — quote it: {_quote(written)}"
        return f"expected {expected}, got {_kind(instance)} {shown}"
    if keyword == "pattern":
        return f"{shown} is not {_PATTERN_WORDS.get(value, f'matching {value}')}"
    if keyword == "const":
        return f"expected {value!r}, got {shown}"
    if keyword == "enum":
        return (
            f"expected one of {', '.join(map(str, value))}; got {shown}"
            f"{_did_you_mean(instance, value)}"
        )
    if keyword == "minLength":
        return "must not be empty" if value == 1 else f"must have at least {value} characters"
    if keyword == "maxLength":
        return f"has {len(instance):,} characters; at most {value:,} are allowed"
    if keyword == "minItems":
        return f"needs at least {value} item{'s' if value != 1 else ''}"
    if keyword == "maxItems":
        return f"has {len(instance)} items; at most {value} are allowed"
    if keyword == "uniqueItems":
        texts = [str(i) for i in instance]
        repeated = sorted({t for t in texts if texts.count(t) > 1})
        return f"lists {', '.join(repeated)} more than once"
    if keyword == "minimum":
        return f"{shown} is below the minimum {value}"
    if keyword == "maximum":
        return f"{shown} is above the maximum {value}"
    return f"{shown} does not satisfy {keyword} {value!r}"


def _shown(instance: Any, path: tuple[Any, ...], doc: Document) -> str:
    raw = doc.raw.get(path)
    if raw is not None:
        return _cut(raw)
    if isinstance(instance, str):
        return repr(instance) if len(instance) < 60 else repr(instance[:57] + "...")
    if isinstance(instance, (dict, list)):
        return "{...}" if isinstance(instance, dict) else "[...]"
    return repr(instance)


def _kind(instance: Any) -> str:
    if instance is None:
        return "the null value"
    for kind, types in (
        ("the boolean", bool),
        ("a timestamp", datetime.datetime),  # before date: a datetime is a date too
        ("a date", datetime.date),
        ("binary data", bytes),
        ("a number", (int, float)),
        ("a string", str),
        ("a list", list),
        ("a mapping", dict),
    ):
        if isinstance(instance, types):
            return kind
    return "nothing" if instance is None else type(instance).__name__


def _words(schema_part: dict[str, Any]) -> str:
    pattern = schema_part.get("pattern")
    if pattern is None and "$ref" in schema_part:
        ref = schema_part["$ref"].rsplit("/", 1)[-1]
        pattern = schema()["$defs"][ref].get("pattern")
    return _PATTERN_WORDS.get(pattern or "", f"matching {pattern}")


def _first_sentence(text: str) -> str:
    return text.split(". ")[0].rstrip(".")


def _field_name(path: tuple[Any, ...]) -> str:
    names = [p for p in path if isinstance(p, str)]
    if len(path) == 2 and path[0] == "assets":
        return f"asset {path[1]!r}"
    return names[-1] if names else "the file"


def _asset_of(path: tuple[Any, ...]) -> str | None:
    if len(path) >= 2 and path[0] == "assets" and isinstance(path[1], str):
        return path[1]
    return None


def _version_of(data: Any, path: tuple[Any, ...]) -> str | None:
    if len(path) >= 4 and path[0] == "assets" and path[2] == "versions":
        try:
            number = data["assets"][path[1]]["versions"][path[3]].get("version")
        except (KeyError, IndexError, TypeError, AttributeError):
            return None
        return number if isinstance(number, str) else None
    return None
