"""The transition rules, one test per code: the refusal and the nearest legal change."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gallery_sync.diagnostics import Severity
from gallery_sync.model import (
    Application,
    Asset,
    Catalog,
    Status,
    Version,
    Visibility,
    VisibilityLevel,
)
from gallery_sync.rules import (
    Context,
    _check_change,
    check_asset,
    image_policy_finding,
    image_registry,
)

PINNED = "swr.cn-north-4.myhuaweicloud.com/acme/app@sha256:" + "0" * 64
CATALOG = Catalog(
    categories=frozenset({"ocr", "computer-vision"}),
    agreements=frozenset({"a1", "a2"}),
    applications={
        ("cn-north-4", "app"): Application("app", "cn-north-4"),
        ("cn-north-4", "app2"): Application("app2", "cn-north-4"),
        ("cn-north-4", "img"): Application("img", "cn-north-4", PINNED),
        ("cn-north-4", "bad-img"): Application("bad-img", "cn-north-4", "docker.io/x/y:latest"),
    },
)
CTX = Context(CATALOG, "acme", frozenset({"a1", "a2"}))
V1 = Version("1.0.0", "cn-north-4", "app")
V2 = Version("1.1.0", "cn-north-4", "app2")
BASE = Asset("flowers", "acme", "Flowers", (V1,))

PUBLIC = Visibility(VisibilityLevel.PUBLIC)
ALICE = Visibility(VisibilityLevel.SPECIFIC_USERS, frozenset({"alice"}))
ALICE_BOB = Visibility(VisibilityLevel.SPECIFIC_USERS, frozenset({"alice", "bob"}))


def codes(before: Asset | None, after: Asset, ctx: Context = CTX) -> list[str]:
    return [v.code for v in check_asset(before, after, ctx) if v.severity is Severity.ERROR]


def test_legal_create() -> None:
    assert codes(None, BASE) == []


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (Visibility(), PUBLIC),
        (Visibility(), ALICE),
        (ALICE, ALICE_BOB),
        (ALICE, PUBLIC),
        (PUBLIC, PUBLIC),
    ],
)
def test_visibility_may_widen(before: Visibility, after: Visibility) -> None:
    assert codes(replace(BASE, visibility=before), replace(BASE, visibility=after)) == []


@pytest.mark.parametrize(
    ("before", "after"),
    [(PUBLIC, Visibility()), (PUBLIC, ALICE), (ALICE, Visibility()), (ALICE_BOB, ALICE)],
)
def test_visibility_narrowing(before: Visibility, after: Visibility) -> None:
    found = check_asset(replace(BASE, visibility=before), replace(BASE, visibility=after), CTX)
    assert [v.code for v in found] == ["visibility-narrowing"]
    assert found[0].field == "visibility"
    assert "discontinue it" in found[0].message


def test_reordering_users_is_no_change() -> None:
    a = Visibility(VisibilityLevel.SPECIFIC_USERS, frozenset(["bob", "alice"]))
    assert codes(replace(BASE, visibility=ALICE_BOB), replace(BASE, visibility=a)) == []


def test_unknown_category_only_for_added_categories() -> None:
    after = replace(BASE, categories=("ocr", "flowers"))
    assert codes(BASE, after) == ["unknown-category"]
    # A category the taxonomy dropped later does not block other updates.
    kept = replace(BASE, categories=("flowers",))
    assert codes(kept, replace(kept, title="New")) == []


def test_agreement_missing_for_new_asset_and_new_version_only() -> None:
    partial = Context(CATALOG, "acme", frozenset({"a1"}))
    assert codes(None, BASE, partial) == ["agreement-missing"]
    assert codes(BASE, replace(BASE, title="x"), partial) == []
    assert codes(BASE, replace(BASE, versions=(V1, V2)), partial) == ["agreement-missing"]
    assert codes(BASE, replace(BASE, versions=(V1, V2)), CTX) == []


def test_application_not_found_with_did_you_mean() -> None:
    after = replace(BASE, versions=(Version("1.0.0", "cn-north-4", "ap"),))
    [v] = check_asset(None, after, CTX)
    assert v.code == "application-not-found" and "did you mean 'app'" in v.message


def test_application_not_found_names_the_region_it_lives_in() -> None:
    after = replace(BASE, versions=(Version("1.0.0", "cn-east-3", "app"),))
    [v] = check_asset(None, after, CTX)
    assert "'app' exists in 'cn-north-4'" in v.message


def test_existing_version_is_not_checked_against_the_catalog() -> None:
    gone = replace(BASE, versions=(Version("1.0.0", "cn-north-4", "retired-app"),))
    assert codes(gone, replace(gone, title="x")) == []


def test_asset_owned_by_other() -> None:
    theirs = replace(BASE, publisher="other")
    assert codes(theirs, BASE) == ["asset-owned-by-other"]


def test_version_removed() -> None:
    assert codes(replace(BASE, versions=(V1, V2)), BASE) == ["version-removed"]
    discontinued = V2._replace(status=Status.DISCONTINUED)
    assert codes(replace(BASE, versions=(V1, V2)), replace(BASE, versions=(V1, discontinued))) == []


@pytest.mark.parametrize("field", ["region", "ai_application"])
def test_version_source_changed(field: str) -> None:
    changed = V1._replace(**{field: "cn-east-3" if field == "region" else "app2"})
    found = check_asset(BASE, replace(BASE, versions=(changed,)), CTX)
    assert [v.code for v in found] == ["version-source-changed"]
    assert found[0].field == field


def test_version_rerelease() -> None:
    before = replace(BASE, versions=(V1._replace(status=Status.DISCONTINUED), V2))
    assert codes(before, replace(BASE, versions=(V1, V2))) == ["version-rerelease"]


def test_discontinue_only_version() -> None:
    after = replace(BASE, versions=(V1._replace(status=Status.DISCONTINUED),))
    assert codes(BASE, after) == ["version-discontinue-last"]


def test_discontinue_old_while_adding_new_in_one_plan_is_legal() -> None:
    after = replace(BASE, versions=(V1._replace(status=Status.DISCONTINUED), V2))
    assert codes(BASE, after) == []


def test_discontinue_last_released_of_a_released_asset() -> None:
    before = replace(BASE, versions=(V1._replace(status=Status.DISCONTINUED), V2))
    after = replace(
        BASE,
        versions=(V1._replace(status=Status.DISCONTINUED), V2._replace(status=Status.DISCONTINUED)),
    )
    assert codes(before, after) == ["version-discontinue-last"]
    # ...legal when the asset is discontinued with it.
    assert codes(before, replace(after, status=Status.DISCONTINUED)) == []


def test_release_asset_with_no_released_version_is_refused() -> None:
    all_gone = (V1._replace(status=Status.DISCONTINUED), V2._replace(status=Status.DISCONTINUED))
    before = replace(BASE, versions=all_gone, status=Status.DISCONTINUED)
    assert codes(before, replace(before, status=Status.RELEASED)) == ["version-discontinue-last"]
    assert (
        codes(
            before,
            replace(
                before,
                status=Status.RELEASED,
                versions=(*all_gone, Version("2.0.0", "cn-north-4", "app")),
            ),
        )
        == []
    )


UNCHANGED = [
    BASE,
    replace(BASE, categories=("ocr", "gone-from-taxonomy"), visibility=ALICE_BOB),
    replace(BASE, versions=(V1, Version("0.9.0", "cn-north-4", "unknown-app")), visibility=PUBLIC),
    replace(BASE, versions=(V1._replace(status=Status.DISCONTINUED), V2)),
    replace(
        BASE,
        status=Status.DISCONTINUED,
        versions=(V1._replace(status=Status.DISCONTINUED), V2._replace(status=Status.DISCONTINUED)),
    ),
]


@pytest.mark.parametrize("asset", UNCHANGED)
def test_an_unchanged_asset_breaks_no_rule_whatever_the_catalog(asset: Asset) -> None:
    # check_asset answers [] for an unchanged asset without running the rules; each rule,
    # run, must agree: against an empty catalog, no agreement accepted, versions reordered.
    bare = Context(Catalog(frozenset(), frozenset({"a3"}), {}), "acme", frozenset())
    same = replace(asset, versions=asset.versions[::-1], categories=asset.categories[::-1])
    for ctx in (CTX, bare):
        assert check_asset(asset, same, ctx) == []
        assert _check_change(asset, same, ctx) == []
    # ...but ownership is still checked first.
    assert codes(asset, same, replace(CTX, publisher="other")) == ["asset-owned-by-other"]


NEW = [
    BASE,
    replace(BASE, versions=(V1, V2), categories=("ocr",), visibility=PUBLIC),
    replace(BASE, status=Status.DISCONTINUED),
    replace(BASE, categories=("ocr", "not-in-taxonomy")),
    replace(BASE, versions=(V1, V2._replace(status=Status.DISCONTINUED))),
    replace(BASE, versions=(V1, Version("2.0.0", "cn-north-4", "nope"))),
    replace(BASE, versions=(V1, Version("2.0.0", "cn-east-3", "app"))),
    replace(BASE, versions=(Version("2.0.0", "cn-north-4", "img"),)),
    replace(BASE, versions=(Version("2.0.0", "cn-north-4", "bad-img"),)),
]


@pytest.mark.parametrize("asset", NEW)
def test_a_new_asset_is_cleared_only_when_every_rule_finds_nothing(asset: Asset) -> None:
    # check_asset clears a plain new asset without running the rules; it must say what they
    # say, with every agreement accepted and without.
    for ctx in (CTX, replace(CTX, accepted_agreements=frozenset({"a1"}))):
        assert check_asset(None, asset, ctx) == _check_change(None, asset, ctx)
    assert check_asset(None, NEW[0], CTX) == []
    assert _check_change(None, NEW[-1], CTX)


def test_new_asset_discontinued() -> None:
    assert codes(None, replace(BASE, status=Status.DISCONTINUED)) == ["new-asset-discontinued"]


def test_new_version_discontinued() -> None:
    after = replace(BASE, versions=(V1, V2._replace(status=Status.DISCONTINUED)))
    assert codes(BASE, after) == ["new-version-discontinued"]


def test_version_not_increasing_is_a_warning() -> None:
    before = replace(BASE, versions=(V2,))
    found = check_asset(before, replace(BASE, versions=(V2, V1)), CTX)
    assert [(v.code, v.severity) for v in found] == [("version-not-increasing", Severity.WARNING)]


def test_image_policy_is_an_error_at_plan_as_at_the_gallery() -> None:
    # One check for both: plan knows the image and the policy, so what the gallery would
    # refuse is never a green plan.
    after = replace(BASE, versions=(Version("1.0.0", "cn-north-4", "bad-img"),))
    [found] = check_asset(None, after, CTX)
    assert (found.code, found.severity) == ("image-policy", Severity.ERROR)
    pinned = replace(BASE, versions=(Version("1.0.0", "cn-north-4", "img"),))
    assert check_asset(None, pinned, CTX) == []


@pytest.mark.parametrize(
    ("image", "problem"),
    [
        ("swr.cn-north-4.myhuaweicloud.com/a/b:1.0", "not pinned by digest"),
        ("docker.io/a/b@sha256:" + "0" * 64, "registry 'docker.io' is not allowed"),
        ("a/b@sha256:" + "0" * 64, "registry 'docker.io' is not allowed"),
        ("swr.cn-north-4.myhuaweicloud.com/a/b@sha256:" + "0" * 63, "not pinned"),
    ],
)
def test_image_policy_findings(image: str, problem: str) -> None:
    finding = image_policy_finding(image, ())
    assert finding is not None and problem in finding


def test_allowed_registries_are_configurable() -> None:
    image = "registry.example.com:5000/a@sha256:" + "1" * 64
    assert image_registry(image) == "registry.example.com:5000"
    assert image_policy_finding(image, ("registry.example.com:*",)) is None


# --- Visibility: one pure function of (asset, account, term, now) -----------------------

NOW = "2030-06-01T00:00:00Z"


def _seen(visibility: object, status: str, account: str | None, term_end: str | None) -> bool:
    from gallery_sync.model import Asset, Status, Visibility
    from gallery_sync.rules import may_see

    shown = Asset(
        "flowers",
        "acme",
        "T",
        (),
        visibility=Visibility.from_json(visibility),
        status=Status(status),
    )
    return may_see(shown, account, term_end, NOW)


@pytest.mark.parametrize(
    ("visibility", "status", "account", "term_end", "seen"),
    [
        ("only_me", "released", "acme", "", True),
        ("only_me", "released", "bob", "", False),
        ("only_me", "released", None, "", False),
        ({"specific_users": ["bob"]}, "released", "bob", "", True),
        ({"specific_users": ["bob"]}, "released", "eve", "", False),
        ({"specific_users": ["bob"]}, "released", None, "", False),
        ("public", "released", None, "", True),
        ("public", "released", "eve", "", True),
        ("public", "discontinued", "acme", "", True),  # the owner, always
        ("public", "discontinued", None, "", False),
        ("public", "discontinued", "eve", "", False),  # no subscription
        ("public", "discontinued", "sub", "2030-07-01T00:00:00Z", True),  # term runs
        ("public", "discontinued", "sub", "2030-05-01T00:00:00Z", False),  # term ended
        ("public", "discontinued", "sub", None, True),  # unlimited term
    ],
)
def test_may_see(
    visibility: object, status: str, account: str | None, term_end: str | None, seen: bool
) -> None:
    assert _seen(visibility, status, account, term_end) is seen
