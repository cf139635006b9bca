"""An asset's state digest (model.Asset.state_digest): one digest is one state of one
publisher's asset, whatever order its versions, categories or users come in; a gallery answers
an asset a plan has in that state by its revision alone (GalleryState.completed)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from gallery_sync.model import (
    Asset,
    DurationLimit,
    GalleryState,
    Status,
    Version,
    Visibility,
    VisibilityLevel,
)

# Small domains, so that two drawn assets are often the same state.
versions = st.lists(
    st.builds(
        Version,
        st.sampled_from(["1.0.0", "1.10.0", "1.9.0"]),
        st.sampled_from(["cn-north-4", "cn-east-3"]),
        st.sampled_from(["app", "app2"]),
        st.sampled_from(["", "notes"]),
        st.sampled_from(list(Status)),
    ),
    max_size=3,
    unique_by=lambda v: v.version,
).map(tuple)
visibilities = st.one_of(
    st.just(Visibility()),
    st.just(Visibility(VisibilityLevel.PUBLIC)),
    st.frozensets(st.sampled_from(["al", "bob"]), min_size=1).map(
        lambda users: Visibility(VisibilityLevel.SPECIFIC_USERS, users)
    ),
)
limits = st.sampled_from([DurationLimit(), DurationLimit(30, True), DurationLimit(30, False)])
assets = st.builds(
    Asset,
    st.just("flowers"),
    st.sampled_from(["acme", "bob"]),
    st.sampled_from(["Flowers", "Tulips"]),
    versions,
    st.sampled_from([None, "ab" * 32]),
    st.sampled_from(["", "d"]),
    st.lists(st.sampled_from(["ocr", "nlp"]), unique=True).map(tuple),
    visibilities,
    limits,
    st.sampled_from(list(Status)),
    st.integers(0, 3),
)


@settings(max_examples=500)
@given(a=assets, b=assets)
def test_one_digest_is_one_state_of_one_publishers_asset(a: Asset, b: Asset) -> None:
    same = a.publisher == b.publisher and a.same_state(b)
    assert (a.state_digest() == b.state_digest()) is same


@given(a=assets)
def test_the_order_of_versions_categories_and_users_is_not_part_of_it(a: Asset) -> None:
    other = replace(
        a,
        versions=a.versions[::-1],
        categories=a.categories[::-1],
        visibility=a.visibility._replace(users=frozenset(sorted(a.visibility.users)[::-1])),
        revision=a.revision + 1,  # nor is the revision
    )
    assert other.state_digest() == a.state_digest()


def test_a_form_it_does_not_put_in_one_order_only_differs() -> None:
    # An unlimited duration limit renews or not alike (to_json says "unlimited" either way):
    # the digests differ, and such an asset is read whole; never two states with one digest.
    a = Asset("flowers", "acme", "F", (), duration_limit=DurationLimit(None, True))
    b = replace(a, duration_limit=DurationLimit(None, False))
    assert a.same_state(b) and a.state_digest() != b.state_digest()


def test_a_completed_state_holds_the_desired_asset_at_the_gallerys_revision() -> None:
    flowers = Asset("flowers", "acme", "F", (Version("1.0.0", "cn-north-4", "app"),))
    tulips = replace(flowers, id="tulips", revision=4)
    state = GalleryState({"tulips": tulips})
    assert state.completed({}, {"flowers": flowers}) is state
    done = state.completed({"flowers": 7}, {"flowers": flowers, "roses": flowers})
    assert done.assets == {"tulips": tulips, "flowers": replace(flowers, revision=7)}
