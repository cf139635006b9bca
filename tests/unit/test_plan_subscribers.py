"""plan on a discontinue says what it does to people: how many keep access, until when."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import replace
from pathlib import Path

import click
import pytest
from jsonschema import Draft202012Validator

from gallery_sync.engine import make_plan
from gallery_sync.model import (
    Application,
    Asset,
    Catalog,
    GalleryState,
    Status,
    SubscriberSummary,
    Version,
)
from gallery_sync.plan import Action, Desired, Plan, content_hash
from gallery_sync.render import json_, markdown, text
from gallery_sync.render.values import subscriber_effect
from gallery_sync.saved import read_plan_file, write_plan_file

REPO = Path(__file__).resolve().parents[2]
V1 = Version("1.0.0", "cn-north-4", "app")
FLOWERS = Asset("flowers", "acme", "Flowers", (V1,), revision=3)
TULIPS = Asset("tulips", "acme", "Tulips", (V1,), revision=1)
GONE = Status.DISCONTINUED


class FakeGallery:
    """Just what make_plan reads, and a record of whom it asked about subscribers."""

    url = "sqlite:////g.db"

    def __init__(self, summary: SubscriberSummary) -> None:
        self.summary = summary
        self.asked: list[str] = []

    def account(self) -> str | None:
        return None

    def read_state(
        self, ids: Collection[str] = (), *, same_as: Mapping[str, Asset] | None = None
    ) -> GalleryState:
        return GalleryState({"flowers": FLOWERS, "tulips": TULIPS})

    def catalog(self, applications: Collection[tuple[str, str]] | None = None) -> Catalog:
        return Catalog(
            frozenset(), frozenset(), {("cn-north-4", "app"): Application("app", "cn-north-4")}
        )

    def subscribers(self, asset_id: str) -> SubscriberSummary:
        self.asked.append(asset_id)
        return self.summary


def plan_discontinuing(summary: SubscriberSummary) -> tuple[Plan, FakeGallery]:
    gallery = FakeGallery(summary)
    desired = Desired(
        "acme",
        {"flowers": replace(FLOWERS, status=GONE), "tulips": replace(TULIPS, title="Red")},
    )
    return make_plan(desired, gallery), gallery  # type: ignore[arg-type]


TWELVE = SubscriberSummary(12, "2027-02-01T08:30:00Z")


def test_the_engine_asks_the_gallery_about_discontinued_assets_only() -> None:
    plan, gallery = plan_discontinuing(TWELVE)
    assert gallery.asked == ["flowers"]
    flowers, tulips = plan.assets
    assert flowers.action is Action.DISCONTINUE and flowers.subscribers == TWELVE
    assert tulips.action is Action.UPDATE and tulips.subscribers is None


def test_a_plan_without_a_discontinue_asks_nothing() -> None:
    gallery = FakeGallery(TWELVE)
    make_plan(Desired("acme", {"flowers": replace(FLOWERS, title="Roses")}), gallery)  # type: ignore[arg-type]
    assert gallery.asked == []


@pytest.mark.parametrize(
    ("summary", "said"),
    [
        (
            TWELVE,
            "discontinue: 12 subscribers keep access until their terms end; "
            "the last term runs until 2027-02-01",
        ),
        (
            SubscriberSummary(1, "2026-03-01T00:00:00Z"),
            "discontinue: 1 subscriber keeps access until its term ends; "
            "the last term runs until 2026-03-01",
        ),
        (
            SubscriberSummary(3, None),
            "discontinue: 3 subscribers keep access until their terms end; "
            "a term never ends (subscribed while the duration was unlimited)",
        ),
        (SubscriberSummary(), "discontinue: no subscriber keeps access (no term is running)"),
    ],
)
def test_the_effect_in_words(summary: SubscriberSummary, said: str) -> None:
    assert subscriber_effect(summary) == said


def test_text_shows_the_effect_under_the_asset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    shown = click.unstyle(text.render_plan(plan_discontinuing(TWELVE)[0]))
    assert (
        "- asset flowers will be discontinued (revision 3)\n"
        "    discontinue: 12 subscribers keep access until their terms end; "
        "the last term runs until 2027-02-01\n"
    ) in shown


def test_markdown_shows_the_effect_in_the_asset_section() -> None:
    shown = markdown.render_plan(plan_discontinuing(TWELVE)[0])
    assert (
        "<summary>⛔ <code>flowers</code>: discontinue</summary>\n\n"
        "👥 discontinue: 12 subscribers keep access until their terms end; "
        "the last term runs until 2027-02-01\n\n| field | before | after |"
    ) in shown


def test_json_carries_it_the_schema_allows_it_and_the_hash_covers_it(tmp_path: Path) -> None:
    plan = plan_discontinuing(TWELVE)[0]
    body = json.loads(json_.render_plan(plan))
    assert body["assets"][0]["subscribers"] == {"count": 12, "last_end": "2027-02-01T08:30:00Z"}
    assert "subscribers" not in body["assets"][1]
    schema = json.loads((REPO / "schemas" / "plan.schema.json").read_text())
    assert list(Draft202012Validator(schema).iter_errors(body)) == []
    claimed = body.pop("plan_hash")
    body["assets"][0]["subscribers"]["count"] = 11
    assert content_hash(body) != claimed
    other = plan_discontinuing(replace(TWELVE, last_end="2027-03-01T00:00:00Z"))[0]
    assert other.digest() != plan.digest()
    write_plan_file(plan, tmp_path / "p.json")
    again = read_plan_file(tmp_path / "p.json")
    assert again.assets[0].subscribers == TWELVE and again.digest() == plan.digest()


def test_the_schema_refuses_a_malformed_effect() -> None:
    body = plan_discontinuing(TWELVE)[0].to_json()
    body["assets"][0]["subscribers"] = {"count": -1, "last_end": "soon"}
    schema = json.loads((REPO / "schemas" / "plan.schema.json").read_text())
    errors = {e.validator for e in Draft202012Validator(schema).iter_errors(body)}
    assert errors == {"minimum", "pattern"}
