"""`gallery-sync admin ...` through the real CLI, on an SQLite store and on PostgreSQL: tokens
(printed once, only a hash kept), registries, categories, agreements."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest

from gallery_sync.defaults import DEFAULT_AGREEMENTS, DEFAULT_CATEGORIES
from gallery_sync.gallery import Principal, Role, open_store
from gallery_sync.gallery.accounts import Unauthenticated, authenticate
from helpers import Workspace

TOKEN = re.compile(r"gs_[A-Za-z0-9_-]{43}")


class AdminSuite:
    """Every test runs on the store `url` names; subclasses say which."""

    url: str

    def stored_rows(self) -> list[tuple[Any, ...]]:
        """Every row of the tokens table, as the database holds it."""
        raise NotImplementedError

    @pytest.fixture
    def ws(self, tmp_path: Path) -> Workspace:
        return Workspace(tmp_path)

    def admin(self, ws: Workspace, *args: str) -> Any:
        return ws.run("admin", *args, "--store", self.url)

    def test_token_create_prints_the_token_alone_once_and_keeps_only_its_hash(
        self, ws: Workspace
    ) -> None:
        made = self.admin(ws, "token", "create", "--account", "acme")
        assert made.code == 0, made.err
        assert TOKEN.fullmatch(made.out.rstrip("\n")) and made.out.count("\n") == 1
        token = made.out.strip()
        assert token not in made.err
        assert made.err == (
            "Token 1 made for account acme (publisher). It is shown this once; keep it as a "
            "secret (GALLERY_TOKEN).\n"
        )
        rows = self.stored_rows()
        assert len(rows) == 1
        assert hashlib.sha256(token.encode()).hexdigest() in rows[0]
        assert not any(token in str(cell) or token[3:] in str(cell) for cell in rows[0])
        listed = self.admin(ws, "token", "list")
        assert token not in listed.out and token not in listed.err

    def test_a_made_token_authenticates_until_revoked(self, ws: Workspace) -> None:
        publisher = self.admin(ws, "token", "create", "--account", "acme").out.strip()
        operator = self.admin(ws, "token", "create", "--account", "ops", "--role", "admin")
        store = open_store(self.url)
        try:
            assert authenticate(store, publisher) == Principal("acme", Role.PUBLISHER)
            assert authenticate(store, operator.out.strip()) == Principal("ops", Role.ADMIN)
            revoked = self.admin(ws, "token", "revoke", "1")
            assert (revoked.code, revoked.out) == (0, "Token 1 revoked.\n")
            with pytest.raises(Unauthenticated, match="revoked"):
                authenticate(store, publisher)
            assert authenticate(store, operator.out.strip()).account == "ops"
        finally:
            store.close()

    def test_token_list_shows_every_token_but_never_one(self, ws: Workspace) -> None:
        assert self.admin(ws, "token", "list").out == (
            "No tokens. `gallery-sync admin token create --account NAME` makes one.\n"
        )
        self.admin(ws, "token", "create", "--account", "acme")
        self.admin(ws, "token", "create", "--account", "bob@example.com", "--role", "admin")
        self.admin(ws, "token", "revoke", "2")
        lines = self.admin(ws, "token", "list").out.splitlines()
        assert re.fullmatch(r"ID\s+ACCOUNT\s+ROLE\s+CREATED\s+REVOKED", lines[0])
        stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
        assert re.fullmatch(rf"1\s+acme\s+publisher\s+{stamp}\s+-", lines[1])
        assert re.fullmatch(rf"2\s+bob@example.com\s+admin\s+{stamp}\s+{stamp}", lines[2])
        assert len(lines) == 3

    @pytest.mark.parametrize("token_id", ["1", "99"])
    def test_revoking_a_revoked_or_unknown_token_is_not_found(
        self, ws: Workspace, token_id: str
    ) -> None:
        self.admin(ws, "token", "create", "--account", "acme")
        self.admin(ws, "token", "revoke", "1")
        again = self.admin(ws, "token", "revoke", token_id)
        assert again.code == 1 and again.out == ""
        assert again.err == (
            f"[error] no token {token_id} to revoke (or it was revoked before); "
            "`gallery-sync admin token list` shows them (not-found)\n"
        )

    @pytest.mark.parametrize(
        ("account", "why"),
        [
            ("-acme", "account '-acme' does not match"),
            ("", "account '' does not match"),
            ("a\x1bb", "account 'a\\x1bb' does not match"),
        ],
    )
    def test_a_bad_account_is_refused_and_no_token_made(
        self, ws: Workspace, account: str, why: str
    ) -> None:
        bad = self.admin(ws, "token", "create", "--account", account)
        assert bad.code == 1 and bad.out == "" and why in bad.err
        assert "\x1b" not in bad.err
        assert self.stored_rows() == []

    def test_a_bad_role_is_a_usage_error(self, ws: Workspace) -> None:
        bad = self.admin(ws, "token", "create", "--account", "acme", "--role", "root")
        assert bad.code == 1 and bad.out == ""
        assert "'root' is not one of 'publisher', 'admin'" in bad.err

    def test_registries_are_shown_set_refused_when_empty_and_reset(self, ws: Workspace) -> None:
        assert self.admin(ws, "registries").out == "swr.*.myhuaweicloud.com\n"
        set_ = self.admin(ws, "registries", "swr.*.com", "registry.acme.io")
        assert (set_.code, set_.out) == (0, "swr.*.com\nregistry.acme.io\n")
        for bad in ("", " ", "a b", "x\x1b"):
            refused = self.admin(ws, "registries", bad)
            assert refused.code == 1 and "registry pattern" in refused.err, bad
        assert self.admin(ws, "registries").out == "swr.*.com\nregistry.acme.io\n"
        both = self.admin(ws, "registries", "a.io", "--default")
        assert both.code == 1 and "give PATTERNS or --default, not both" in both.err
        reset = self.admin(ws, "registries", "--default")
        assert reset.out == "swr.*.myhuaweicloud.com\n"

    def test_categories_listed_added_removed_and_validated(self, ws: Workspace) -> None:
        assert self.admin(ws, "categories").out.split() == sorted(DEFAULT_CATEGORIES)
        added = self.admin(ws, "categories", "add", "speech-to-text")
        assert added.code == 0 and added.err == "speech-to-text: added\n"
        assert "speech-to-text" in added.out.split()
        again = self.admin(ws, "categories", "add", "speech-to-text")
        assert again.err == "speech-to-text: unchanged\n"
        removed = self.admin(ws, "categories", "remove", "speech-to-text")
        assert removed.err == "speech-to-text: removed\n"
        assert removed.out.split() == sorted(DEFAULT_CATEGORIES)
        bad = self.admin(ws, "categories", "add", "Speech To Text")
        assert bad.code == 1 and "category 'Speech To Text' does not match" in bad.err
        wrong = self.admin(ws, "categories", "rename", "a")
        assert wrong.code == 1 and "expected add SLUG or remove SLUG" in wrong.err

    def test_agreements_listed_added_removed_and_validated(self, ws: Workspace) -> None:
        listed = self.admin(ws, "agreements").out
        assert listed == "".join(f"{k}  {t}\n" for k, t in sorted(DEFAULT_AGREEMENTS.items()))
        added = self.admin(ws, "agreements", "add", "export-control", "Export control terms")
        assert added.code == 0 and added.err == "export-control: added\n"
        assert "export-control  Export control terms\n" in added.out
        retitled = self.admin(ws, "agreements", "add", "export-control", "Export terms, v2")
        assert retitled.err == "export-control: updated\n"
        assert "export-control  Export terms, v2\n" in retitled.out
        removed = self.admin(ws, "agreements", "remove", "export-control")
        assert removed.err == "export-control: removed\n" and removed.out == listed
        gone = self.admin(ws, "agreements", "remove", "export-control")
        assert gone.err == "export-control: unchanged\n"
        for args, why in [
            (("add", "Export", "T"), "agreement id 'Export' does not match"),
            (("add", "export", ""), "agreement title is empty"),
            (("add", "export", "a\x07b"), "may hold no control characters"),
            (("add", "export"), "expected add ID TITLE or remove ID"),
        ]:
            bad = self.admin(ws, "agreements", *args)
            assert bad.code == 1 and why in bad.err, args

    def test_store_is_required(self, ws: Workspace) -> None:
        missing = ws.run("admin", "token", "list")
        assert missing.code == 1 and "Missing option '--store'" in missing.err


class TestAdminOnSqlite(AdminSuite):
    @pytest.fixture(autouse=True)
    def _store(self, tmp_path: Path) -> None:
        self.path = tmp_path / "store" / "gallery.db"
        self.path.parent.mkdir()
        self.url = f"sqlite:///{self.path}"
        # Readers never create a store (test_readers_create_no_store): a writer makes it.
        Workspace(tmp_path).run("admin", "registries", "--default", "--store", self.url)

    def stored_rows(self) -> list[tuple[Any, ...]]:
        import sqlite3

        if not self.path.exists():
            return []
        with sqlite3.connect(self.path) as db:
            return db.execute("SELECT * FROM tokens").fetchall()

    def test_the_token_is_nowhere_in_the_database_files(self, ws: Workspace) -> None:
        token = self.admin(ws, "token", "create", "--account", "acme").out.strip()
        for path in self.path.parent.iterdir():
            assert token.encode() not in path.read_bytes(), path

    def test_readers_create_no_store(self, ws: Workspace, tmp_path: Path) -> None:
        missing = tmp_path / "none" / "gallery.db"
        for args in (("token", "list"), ("registries",), ("categories",), ("agreements",)):
            read = ws.run("admin", *args, "--store", f"sqlite:///{missing}")
            assert read.code == 1 and read.out == "" and "error: " in read.err, args
        assert not missing.parent.exists()


class TestAdminOnPostgres(AdminSuite):
    @pytest.fixture(autouse=True)
    def _store(self, pg_url: str) -> None:
        self.url = pg_url
        # The schema exists, its tables not yet: the first writer creates them.
        ws = Workspace(Path("."))
        ws.run("admin", "registries", "--default", "--store", pg_url)

    def stored_rows(self) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.url) as conn:
            return [tuple(r) for r in conn.execute("SELECT * FROM tokens").fetchall()]
