"""The user's reference cannot drift: every diagnostic code, category and agreement is in it."""

from __future__ import annotations

import re

from gallery_sync.defaults import DEFAULT_AGREEMENTS, DEFAULT_CATEGORIES
from gallery_sync.diagnostics import CODES
from helpers import REPO

REFERENCE = (REPO / "docs" / "reference.md").read_text()


def test_every_diagnostic_code_has_a_row_with_its_severity() -> None:
    rows = dict(re.findall(r"^\| `([a-z-]+)` \| (error|warning) \|", REFERENCE, re.M))
    assert rows == {code: severity.value for code, severity in CODES.items()}


def test_every_default_category_and_agreement_is_listed() -> None:
    for category in DEFAULT_CATEGORIES:
        assert f"| `{category}` |" in REFERENCE
    for agreement, name in DEFAULT_AGREEMENTS.items():
        assert f"| `{agreement}` | {name} |" in REFERENCE


def test_the_readme_sends_users_to_docs_they_have() -> None:
    readme = (REPO / "README.md").read_text()
    assert "SPEC" not in readme
    assert "(docs/reference.md)" in readme


def test_every_known_region_is_listed() -> None:
    from gallery_sync.defaults import KNOWN_REGIONS

    text = " ".join(REFERENCE.split())
    assert f"AI Gallery run: {', '.join(KNOWN_REGIONS)}. Any other region" in text


def test_the_command_tables_say_what_the_commands_do() -> None:
    readme = (REPO / "README.md").read_text()
    assert "the code in parentheses at the end is stable" in " ".join(REFERENCE.split())
    assert "in brackets at the end" not in REFERENCE
    for table in (readme, REFERENCE):
        history = next(line for line in table.splitlines() if line.startswith("| `history"))
        assert "--format text\\|json" in history and "1 no such asset" in history
        imports = next(line for line in table.splitlines() if line.startswith("| `import"))
        assert "[ID]..." in imports and "--files-dir" in imports
        apps_add = next(line for line in table.splitlines() if line.startswith("| `apps add"))
        assert "--new-region" in apps_add and "1 refused" in apps_add
