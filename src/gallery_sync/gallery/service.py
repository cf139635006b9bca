"""The gallery service: the one place that knows who is calling. It owns reads (filtered by
`rules.may_see`) and writes (the same rules as plan, in batches) over a simple store."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from typing import Protocol

from gallery_sync import rules, shape
from gallery_sync.diagnostics import Diagnostic, Severity
from gallery_sync.errors import GalleryRefusal, StoreError
from gallery_sync.gallery import (
    Admin,
    AuditEntry,
    Principal,
    Role,
    SubscriberSummary,
    Subscription,
    Token,
    WriteBatches,
    WriteRequest,
)
from gallery_sync.gallery.search import SearchPage, WebSession
from gallery_sync.model import (
    Application,
    Applications,
    Asset,
    Catalog,
    GalleryState,
    Operation,
    OpKind,
    Status,
    apply_operation,
)

# Writes per store transaction. Each asset stays atomic on its own (see _write_batch); the
# batch only shares the cost of a commit. A crash loses at most one uncommitted batch, which
# apply never reported as applied.
BATCH_SIZE = 500


@dataclass(frozen=True, slots=True)
class AuditRecord:
    account: str
    asset: str
    change: dict[str, object]
    plan_hash: str
    message: str


@dataclass(frozen=True, slots=True)
class StoredWrite:
    """A write the rules allowed: the asset as it will be stored, its new covers, its audit."""

    asset: Asset
    revision: int
    covers: dict[str, bytes]
    audit: list[AuditRecord]
    # Running terms the write settles (a discontinue ends their renewals, a new duration
    # limit applies from their end): kept with the asset, in the same transaction.
    subscriptions: tuple[Subscription, ...] = ()

    @property
    def creates(self) -> bool:
        """The write makes its asset: revisions start at 1, and the store holds none yet."""
        return self.revision == 1


AppKey = tuple[str, str]  # (region, name)


@dataclass(frozen=True, slots=True)
class ReadCatalog:
    """A catalog as read outside a write (plan's), kept small for the writes that follow: its
    version, whose applications, the catalog without them, and of the applications found only
    their names by region (the strings the keys asked with: the config holds them anyway) and
    the images of those that run one. 50,000 applications as a Catalog: ~12 MB, here ~2 MB."""

    version: str
    whose: str | None
    bare: Catalog  # categories, agreements, image policy; no applications
    names: dict[str, set[str]]  # region -> names found
    images: dict[AppKey, str]  # those found that run a container image

    @classmethod
    def of(
        cls, version: str, whose: str | None, catalog: Catalog, keys: Collection[AppKey]
    ) -> ReadCatalog:
        found = catalog.applications
        names: dict[str, set[str]] = {}
        for key in keys:
            if key in found:
                names.setdefault(key[0], set()).add(key[1])
        images = (
            found.with_images()
            if isinstance(found, Applications)
            else {k: a.image for k, a in found.items() if a.image is not None}
        )
        return cls(version, whose, replace(catalog, applications={}), names, images)


# Whose applications: the embedded gallery's own catalog is the account '' (`apps add` runs
# without a config, and every publisher of an embedded gallery uses it); on a served gallery
# an account's own.
EMBEDDED_ACCOUNT = ""


class CatalogSource(Protocol):
    """The catalog as a store keeps it; read in a transaction or outside one."""

    def catalog_version(self) -> str:
        """Changes whenever the catalog changes (categories, agreements, applications, image
        policy), in the transaction that changes it."""

    def categories(self) -> frozenset[str]: ...

    def agreements(self) -> frozenset[str]: ...

    def allowed_registries(self) -> tuple[str, ...]: ...

    def applications(
        self, keys: Collection[AppKey], account: str = EMBEDDED_ACCOUNT
    ) -> Mapping[AppKey, Application]:
        """Only the account's applications with these keys (targeted: a plan reads a few of
        thousands)."""

    def list_applications(self, account: str = EMBEDDED_ACCOUNT) -> list[Application]: ...


class Transaction(CatalogSource, Protocol):
    """One store transaction: everything in it lands together or not at all."""

    def get_assets(self, asset_ids: Collection[str]) -> dict[str, Asset]: ...

    def known_covers(self, sha256s: Collection[str]) -> set[str]: ...

    def subscriptions_of(self, asset_ids: Collection[str]) -> list[Subscription]:
        """The subscriptions to these assets, as stored (their terms not yet renewed)."""

    def keep_subscription(self, held: Subscription) -> None:
        """Begin (or replace) a subscription."""

    def savepoint(self) -> AbstractContextManager[None]:
        """A nested unit: an exception inside undoes what it wrote (raised as StoreError)."""

    def store(self, writes: Sequence[StoredWrite], audit: Sequence[AuditRecord] = ()) -> None:
        """Keep the assets, covers and audit records of these writes; StoreError if it cannot."""

    def claim(self, key: str, account: str) -> str | None:
        """Wait until no other transaction holds this Idempotency-Key of this account, then
        what is kept for it so far (None: nothing yet)."""

    def remember(self, key: str, account: str, response: str) -> None:
        """Keep, with this transaction's writes, what the key has done so far (its outcomes)."""


class Store(CatalogSource, Admin, Protocol):
    """A simple store: keeps and finds what it is asked to; decides no rule, knows no caller.
    SqliteStore (gallery/local.py) and PostgresStore (gallery/postgres.py) implement it; the
    store contract suite (tests/contract/test_store_contract.py) says what each must do."""

    url: str

    def transaction(self) -> AbstractContextManager[Transaction]:
        """BEGIN (taking the write lock) ... COMMIT; StoreError when the store fails."""

    def assets(
        self,
        *,
        ids: Collection[str] | None = None,
        publisher: str | None = None,
        cover: str | None = None,
    ) -> dict[str, Asset]:
        """The assets matching every filter given (all of them with none)."""

    def owners(self, ids: Collection[str]) -> dict[str, str]:
        """id -> publisher of those of `ids` the store holds."""

    def state_digests(self, publisher: str) -> dict[str, tuple[str | None, int]]:
        """id -> (the state digest kept with it, None for none; its revision), of the
        publisher's assets: kept by every write, cleared by an edit by other means."""

    def page_assets(self, after: str | None, limit: int) -> list[Asset]:
        """Up to `limit` assets in id order, after the id `after` (None: from the first)."""

    def history(
        self,
        *,
        asset: str | None = None,
        publisher: str | None = None,
        after_id: int | None = None,
        limit: int | None = None,
    ) -> list[AuditEntry]:
        """The audit log, newest first: of one asset, and/or of one publisher's assets (and
        the entries it wrote itself); `after_id`: the entries older than it; at most `limit`."""

    def cover(self, sha256: str) -> bytes | None: ...

    def add_application(self, app: Application, account: str = EMBEDDED_ACCOUNT) -> str:
        """Register an application of `account`: "added", "updated" or "unchanged"."""

    def schema_version(self) -> int: ...

    # --- Tokens (only a hash is kept) ---

    def create_token(self, account: str, role: str, token_hash: str) -> int: ...

    def token(self, token_hash: str) -> Token | None: ...

    def list_tokens(self) -> list[Token]: ...

    def revoke_token(self, token_id: int) -> bool:
        """False if there is no such token, or it was revoked before."""

    # --- Subscriptions ---

    def subscribe(
        self, asset: str, account: str, start: str, end: str | None, auto_renew: bool
    ) -> None: ...

    def subscriptions(
        self, asset: str | None = None, account: str | None = None
    ) -> list[Subscription]: ...

    # --- Idempotency ---

    def idempotent(self, key: str, account: str) -> str | None:
        """The reply kept for this Idempotency-Key of this account, if any."""

    def remember(self, key: str, account: str, response: str) -> None: ...

    # --- The web gallery (SPEC 8): searching released assets, browsers' sessions ---

    def search_released(
        self,
        audience: rules.Audience,
        *,
        text: str = "",
        categories: Collection[str] = (),
        offset: int = 0,
        limit: int = 24,
    ) -> SearchPage:
        """A page of the released assets `audience` admits, newest first, matching every word
        of `text` (full-text, as prefixes) and any of `categories`; with counts."""

    def create_session(self, session: WebSession) -> None: ...

    def web_session(self, session_hash: str) -> WebSession | None: ...

    def end_session(self, session_hash: str) -> None: ...

    def close(self) -> None: ...


def compose_catalog(
    source: CatalogSource, keys: Collection[AppKey] | None, account: str | None
) -> Catalog:
    """The catalog with `account`'s applications of `keys` (all for None; none for no
    account). A key the store does not hold brings the account's whole list: the rules then
    name the application probably meant, and that only happens when a plan is wrong."""
    found: Mapping[AppKey, Application] = {}
    if account is not None and keys is None:
        found = {(a.region, a.name): a for a in source.list_applications(account)}
    elif account is not None and keys:
        found = source.applications(keys, account)
        asked = len(keys) if isinstance(keys, (set, frozenset)) else len(set(keys))
        if len(found) < asked:
            found = {(a.region, a.name): a for a in source.list_applications(account)}
    return Catalog(
        categories=source.categories(),
        agreements=source.agreements(),
        applications=found,
        allowed_registries=source.allowed_registries(),
    )


def application_keys(requests: Sequence[WriteRequest]) -> set[AppKey]:
    """The applications the versions these writes add name (a malformed one names none)."""
    keys: set[AppKey] = set()

    def add(version: object) -> None:
        if isinstance(version, dict):
            region, name = version.get("region"), version.get("ai_application")
            if isinstance(region, str) and isinstance(name, str):
                keys.add((region, name))

    for request in requests:
        for op in request.operations:
            if op.kind is OpKind.ADD_VERSION:
                add(op.value)
            elif op.kind is OpKind.CREATE and isinstance(op.value, dict):
                versions = op.value.get("versions")
                if isinstance(versions, dict):
                    for version in versions.values():
                        add(version)
    return keys


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class GalleryService:
    """The Gallery protocol over a store, as one principal may use it: reads filtered by
    `rules.may_see`, writes checked by `rules.check_asset` and made as the principal's account."""

    def __init__(
        self,
        store: Store,
        principal: Principal,
        *,
        clock: Callable[[], str] = _now,
        keep_catalog: bool = False,
    ) -> None:
        self.store = store
        self.principal = principal
        self.url = store.url
        self._clock = clock
        # For a command that writes (open_gallery's create=True): the last catalog read at one
        # version is kept for its writes (~2 MiB for 50,000 applications); a reader keeps none.
        self._keep_catalog = keep_catalog
        self._read_catalog: ReadCatalog | None = None

    @property
    def _sees_all(self) -> bool:
        return self.principal.local or self.principal.role is Role.ADMIN

    def _visible(self, assets: Collection[Asset]) -> list[Asset]:
        """Those of `assets` the principal may see (rules.may_see, with its running terms)."""
        if self._sees_all:
            return list(assets)
        account = self.principal.account
        now = self._clock()
        # Only a discontinued asset of another publisher asks for a term: look those up once.
        asks = account is not None and any(
            a.status is Status.DISCONTINUED and a.publisher != account for a in assets
        )
        terms = self._terms(account) if asks and account is not None else {}
        return [
            a for a in assets if rules.may_see(a, account, _term_end(terms.get(a.id), a, now), now)
        ]

    def _may_see(self, asset: Asset) -> bool:
        return bool(self._visible([asset]))

    def _terms(self, account: str) -> dict[str, rules.Term]:
        return {s.asset: _term(s) for s in self.store.subscriptions(account=account)}

    def _seen(self, asset_id: str, found: Asset | None = None) -> Asset:
        """The asset (read now, or as `found`), if the principal may see it; else not-found,
        as for an asset that is not there (existence never leaks)."""
        if found is None:
            found = self.store.assets(ids=[asset_id]).get(asset_id)
        if found is None or not self._may_see(found):
            raise GalleryRefusal(
                [Diagnostic.of("not-found", f"no asset {asset_id!r}", asset=asset_id)]
            )
        return found

    def account(self) -> str | None:
        # The embedded gallery is single-user: whoever runs it is publisher.account.
        return None if self.principal.local else self.principal.account

    @property
    def _applications_of(self) -> str | None:
        """Whose applications the caller uses: the embedded gallery's own catalog, else the
        caller's account's (SPEC 7); None (no applications) for an anonymous caller."""
        return EMBEDDED_ACCOUNT if self.principal.local else self.principal.account

    def catalog(self, applications: Collection[AppKey] | None = None) -> Catalog:
        # Kept with its version, read before and after: the same version both times, no
        # catalog change committed between, so the catalog read is that version's. A write
        # that follows (plan, then apply) uses it while its transaction finds that version.
        whose = self._applications_of
        if not self._keep_catalog:
            return compose_catalog(self.store, applications, whose)
        version = self.store.catalog_version()
        catalog = compose_catalog(self.store, applications, whose)
        if self.store.catalog_version() == version:
            keys = catalog.applications if applications is None else applications
            self._read_catalog = ReadCatalog.of(version, whose, catalog, keys)
        return catalog

    def read_state(
        self, ids: Collection[str] = (), *, same_as: Mapping[str, Asset] | None = None
    ) -> GalleryState:
        if not same_as:
            return self.read_changed(ids, _no_digest)[0]
        digests: dict[str, str] = {}

        def digest_of(asset_id: str) -> str | None:  # only of assets the gallery has a digest of
            asset = same_as.get(asset_id)
            return None if asset is None else digests.setdefault(asset_id, asset.state_digest())

        state, unchanged = self.read_changed(ids, digest_of)
        return state.completed(unchanged, same_as)

    def read_changed(
        self, ids: Collection[str], digest_of: Callable[[str], str | None]
    ) -> tuple[GalleryState, dict[str, int]]:
        """read_state, but for the caller's own assets whose kept state digest is
        `digest_of(id)`: those are not read, only their revisions returned (by id)."""
        account = self.principal.account
        if account is None:
            return GalleryState(self.store.assets() if self._sees_all else {}), {}
        unchanged: dict[str, int] = {}
        kept = self.store.state_digests(account) if digest_of is not _no_digest else {}
        for asset_id, (digest, revision) in kept.items():
            if digest is not None and digest_of(asset_id) == digest:
                unchanged[asset_id] = revision
        if not unchanged:
            own = self.store.assets(publisher=account)
        elif 2 * len(unchanged) < len(kept):  # most are read: one read of all, not by ids
            own = {
                i: a for i, a in self.store.assets(publisher=account).items() if i not in unchanged
            }
        else:
            own = self.store.assets(ids=[i for i in kept if i not in unchanged])
            own = {i: a for i, a in own.items() if a.publisher == account}
        others = (
            self.store.owners([i for i in ids if i not in own and i not in unchanged])
            if ids
            else {}
        )
        stubs = {i: Asset(i, owner, "", ()) for i, owner in others.items() if owner != account}
        return GalleryState({**own, **stubs} if stubs else own), unchanged

    def write_assets(
        self, requests: Sequence[WriteRequest], *, idempotency_key: str | None = None
    ) -> WriteBatches:
        """`idempotency_key`: what this key of this account has done is done once; a request
        with a key used before gets the first outcomes (see `write_assets`)."""
        account = self.principal.account
        if account is None:
            yield [_unauthenticated(r) for r in requests]
            return
        yield from write_assets(
            self.store,
            requests,
            account=account,
            applications_of=self._applications_of,
            clock=self._clock,
            idempotency_key=idempotency_key,
            read_catalog=self._read_catalog,
        )

    def write_asset(self, request: WriteRequest) -> int:
        """One write on its own: its new revision, or GalleryRefusal."""
        [[outcome]] = list(self.write_assets([request]))
        if isinstance(outcome, GalleryRefusal):
            raise outcome
        return outcome

    def history(self, asset_id: str | None = None) -> list[AuditEntry]:
        if self._sees_all:
            return self.store.history(asset=asset_id)
        account = self.principal.account
        if account is None:
            return []
        return self.store.history(asset=asset_id, publisher=account)

    def cover(self, sha256: str) -> bytes | None:
        if not self._sees_all and not any(
            self._may_see(a) for a in self.store.assets(cover=sha256).values()
        ):
            return None
        return self.store.cover(sha256)

    def asset(self, asset_id: str) -> Asset | None:
        """The asset, if it exists and the principal may see it (a subscriber: a discontinued
        asset while its term runs); None either way otherwise."""
        found = self.store.assets(ids=[asset_id]).get(asset_id)
        return found if found is not None and self._may_see(found) else None

    def subscribe(self, asset_id: str) -> Subscription:
        """Subscribe the principal's account to a released asset it may see: a term of the
        asset's duration limit from now. A term already running that ends later (or never) is
        kept as it is: subscribing again never shortens access."""
        account = self.principal.account
        if account is None:
            raise GalleryRefusal([_unauthenticated_diagnostic("subscribing", asset_id)])
        now = self._clock()
        with self.store.transaction() as tx:
            # Read under the write lock: a discontinue (which settles every term it finds)
            # cannot commit between this read and the new term.
            asset = self._seen(asset_id, tx.get_assets([asset_id]).get(asset_id))
            refusal = rules.subscribe_refusal(asset, account)
            if refusal is not None:
                raise GalleryRefusal([_diagnostic(refusal, asset_id)])
            term = rules.subscription_term(asset.duration_limit, now)
            for held in tx.subscriptions_of([asset_id]):
                if held.account != account:
                    continue
                running = rules.running_term(_term(held), asset, now)
                if running.end is None or (term.end is not None and running.end >= term.end):
                    return replace(held, ends_at=running.end, auto_renew=running.renews)
            subscription = Subscription(asset_id, account, now, term.end, term.renews)
            tx.keep_subscription(subscription)
        return subscription

    def subscribers(self, asset_id: str) -> SubscriberSummary:
        """How many subscribers keep access, and until when the last term runs, were the asset
        discontinued now: its owner's question (anyone else: not-found)."""
        asset = self._seen(asset_id)
        if not self._sees_all and asset.publisher != self.principal.account:
            raise GalleryRefusal(
                [Diagnostic.of("not-found", f"no asset {asset_id!r}", asset=asset_id)]
            )
        now = self._clock()
        ends = [
            rules.running_term(_term(s), asset, now).end
            for s in self.store.subscriptions(asset=asset_id)
        ]
        running = [end for end in ends if end is None or end > now]
        if not running:
            return SubscriberSummary()
        last = None if None in running else max(e for e in running if e is not None)
        return SubscriberSummary(len(running), last)

    def add_application(self, app: Application) -> str:
        account = self._applications_of
        if account is None:
            raise GalleryRefusal([_unauthenticated_diagnostic("registering an application")])
        return self.store.add_application(app, account)

    def report_drift(self, findings: Mapping[str, Sequence[str]], commit: str = "") -> list[str]:
        """Record a reconciler's findings on the principal's own assets, in one transaction:
        a "drift" entry (its fields, the commit) where they differ from the newest recorded
        state, an "in-step" entry where an asset recorded as drifted is in step again. An
        asset never recorded and in step is left unknown (nothing to say); an asset that is
        not the principal's is not-found for the whole call."""
        account = self.principal.account
        if account is None:
            raise GalleryRefusal([_unauthenticated_diagnostic("reporting drift")])
        wanted = {asset: tuple(sorted(set(fields))) for asset, fields in findings.items()}
        if not wanted:
            return []
        with self.store.transaction() as tx:
            held = tx.get_assets(list(wanted))
            foreign = sorted(a for a in wanted if a not in held or held[a].publisher != account)
            if foreign:
                raise GalleryRefusal(
                    [Diagnostic.of("not-found", f"no asset {a!r}", asset=a) for a in foreign]
                )
            recorded = self._drift_recorded(account, wanted)
            records = [
                AuditRecord(account, asset, _drift_change(fields, commit), "", "")
                for asset, fields in wanted.items()
                if recorded.get(asset) != fields and (fields or asset in recorded)
            ]
            if records:
                tx.store([], records)
        return [r.asset for r in records]

    def _drift_recorded(
        self, account: str, assets: Mapping[str, object]
    ) -> dict[str, tuple[str, ...]]:
        """The newest recorded drift state of these assets: their drifted fields, () for in
        step; absent where none was recorded. A few assets: read one by one; many: at once."""
        if len(assets) <= DRIFT_READS_EACH:
            entries = [e for a in assets for e in self.store.history(asset=a)]
        else:
            entries = self.store.history(publisher=account)
        recorded: dict[str, tuple[str, ...]] = {}
        for entry in entries:  # newest first (of each asset)
            kind = entry.change.get("kind")
            if entry.asset in assets and kind in (DRIFT, IN_STEP):
                fields = entry.change.get("fields") if kind == DRIFT else None
                recorded.setdefault(entry.asset, tuple(fields or ()))
        return recorded

    def admin(self) -> Admin | None:
        return self.store if self._sees_all else None

    def close(self) -> None:
        self.store.close()


Outcome = int | GalleryRefusal  # the asset's new revision, or why it was refused

# What a reconciler records about an asset (SPEC 9): it differs from git, or is in step again.
DRIFT, IN_STEP = "drift", "in-step"
DRIFT_READS_EACH = 50  # up to this many assets, their histories are read one by one


def _drift_change(fields: tuple[str, ...], commit: str) -> dict[str, object]:
    change: dict[str, object] = (
        {"kind": DRIFT, "fields": list(fields)} if fields else {"kind": IN_STEP}
    )
    if commit:
        change["commit"] = commit
    return change


def _term(subscription: Subscription) -> rules.Term:
    return rules.Term(subscription.ends_at, subscription.auto_renew)


def _term_end(term: rules.Term | None, asset: Asset, now: str) -> str | None:
    """When the principal's access through a subscription ends (NOT_SUBSCRIBED: it has none)."""
    if term is None:
        return rules.NOT_SUBSCRIBED
    return rules.running_term(term, asset, now).end


def _no_digest(asset_id: str) -> str | None:
    """No state digest to compare: every asset is read whole."""
    return None


def write_assets(
    store: Store,
    requests: Sequence[WriteRequest],
    *,
    account: str,
    applications_of: str | None = None,
    clock: Callable[[], str] = _now,
    idempotency_key: str | None = None,
    read_catalog: ReadCatalog | None = None,
) -> WriteBatches:
    """Check and apply writes as `account`, each atomic; yields the outcomes of each committed
    batch. The versions may use the applications of `applications_of` (default: `account`'s).

    A batch holds no asset twice, so every write in it is checked against committed state
    or the writes before it in the same batch.

    With an `idempotency_key`, each batch's transaction first claims the key (waiting for a
    concurrent request with the same key) and keeps the outcomes so far with its writes: a
    write is never done twice, whether the same request arrives twice at once or again after
    a crash between two batches; what was done is answered as it was the first time.

    `read_catalog`, a catalog read before (as plan reads it), is used by a batch whose
    transaction finds its version still current and whose applications it all holds: the
    same catalog, not looked up again (~6 ms a batch of 500 new assets, and the pages the
    look-up evicts).
    """
    done: list[int | GalleryRefusal] = []
    while len(done) < len(requests):
        start = len(done)
        batch = next(_batches(requests[start:]))
        try:
            with store.transaction() as tx:
                kept = _kept(tx.claim(idempotency_key, account)) if idempotency_key else []
                if len(kept) > start:  # done before (or meanwhile): its first outcomes
                    outcomes = kept[start:]
                else:
                    outcomes = _write_batch(
                        tx, batch, account, applications_of, clock, read_catalog
                    )
                    if idempotency_key:
                        tx.remember(idempotency_key, account, _keeping(done + outcomes))
        except StoreError as exc:  # begin or commit failed: nothing of the batch was kept
            outcomes = [_store_failure(r, exc) for r in batch]
        done += outcomes
        if (yield outcomes):  # the caller asked to stop: no further batch is begun
            return


def _keeping(outcomes: Sequence[int | GalleryRefusal]) -> str:
    """Outcomes as an idempotency record keeps them."""
    return json.dumps(
        [
            {"refusal": [d.to_json() for d in o.diagnostics]}
            if isinstance(o, GalleryRefusal)
            else o
            for o in outcomes
        ]
    )


def _kept(text: str | None) -> list[int | GalleryRefusal]:
    if text is None:
        return []
    return [
        GalleryRefusal([Diagnostic.from_json(d) for d in o["refusal"]])
        if isinstance(o, dict)
        else int(o)
        for o in json.loads(text)
    ]


def _unauthenticated_diagnostic(what: str, asset: str | None = None) -> Diagnostic:
    return Diagnostic.of("unauthenticated", f"{what} needs an account; none was given", asset=asset)


def _unauthenticated(request: WriteRequest) -> GalleryRefusal:
    return GalleryRefusal(
        [_unauthenticated_diagnostic(f"writing asset {request.asset_id!r}", request.asset_id)]
    )


def _batches(requests: Sequence[WriteRequest]) -> Iterator[Sequence[WriteRequest]]:
    start = 0
    while start < len(requests):
        seen: set[str] = set()
        end = start
        while end < len(requests) and end - start < BATCH_SIZE:
            if requests[end].asset_id in seen:
                break
            seen.add(requests[end].asset_id)
            end += 1
        yield requests[start:end]
        start = end


def _write_batch(
    tx: Transaction,
    requests: Sequence[WriteRequest],
    account: str,
    applications_of: str | None,
    clock: Callable[[], str],
    read_catalog: ReadCatalog | None = None,
) -> list[Outcome]:
    """Check every write, then store the allowed ones together; on a store error, store them
    one at a time in savepoints, so that only the write the store rejects fails."""
    stored = tx.get_assets([r.asset_id for r in requests])
    apps_account = account if applications_of is None else applications_of
    keys = application_keys(requests)
    catalog = _current(read_catalog, tx, keys, apps_account) or compose_catalog(
        tx, keys, apps_account
    )
    uploaded = {sha for r in requests for sha in r.covers}
    stored_covers = dict.fromkeys(uploaded, False) | dict.fromkeys(tx.known_covers(uploaded), True)

    def has_cover(sha: str) -> bool:
        found = stored_covers.get(sha)
        if found is None:
            found = stored_covers[sha] = bool(tx.known_covers([sha]))
        return found

    contexts: dict[frozenset[str], rules.Context] = {}
    outcomes: list[Outcome] = []
    writes: list[tuple[int, StoredWrite]] = []
    refused_audit: list[AuditRecord] = []
    for request in requests:
        before = stored.get(request.asset_id)
        key = request.accepted_agreements
        ctx = contexts.get(key)
        if ctx is None:
            ctx = contexts[key] = rules.Context(catalog, account, key)
        try:
            write = _check(before, request, ctx, has_cover)
        except _Refused as refused:
            outcomes.append(refused.refusal)
            refused_audit += refused.audit
            continue
        if write is None:
            outcomes.append(before.revision if before else 0)
            continue
        writes.append((len(outcomes), write))
        outcomes.append(write.revision)
    if not writes and not refused_audit:
        return outcomes
    writes = _settle_terms(tx, stored, writes, clock)
    try:
        with tx.savepoint():
            tx.store([w for _, w in writes], refused_audit)
    except StoreError:
        for index, write in writes:
            try:
                with tx.savepoint():
                    tx.store([write])
            except StoreError as exc:
                outcomes[index] = _store_failure(requests[index], exc)
        with tx.savepoint():
            tx.store([], refused_audit)
    return outcomes


def _current(
    read: ReadCatalog | None, tx: Transaction, keys: Collection[AppKey], account: str | None
) -> Catalog | None:
    """The catalog read before, if it is this transaction's (no catalog change committed
    since: its version is current) and of the same account's applications, holding every
    key: then what compose_catalog would read now, applications of `keys` only (the rules
    see exactly what a fresh look-up gives them). None otherwise."""
    if read is None or read.whose != account:
        return None
    names, images = read.names, read.images
    for region, name in keys:
        if name not in names.get(region, ()):
            return None
    if tx.catalog_version() != read.version:
        return None
    applications = {key: Application(key[1], key[0], images.get(key)) for key in keys}
    return replace(read.bare, applications=applications)


def _settle_terms(
    tx: Transaction,
    stored: dict[str, Asset],
    writes: list[tuple[int, StoredWrite]],
    clock: Callable[[], str],
) -> list[tuple[int, StoredWrite]]:
    """The writes, each that discontinues its asset or changes its duration limit with the
    running terms it settles (rules.settle_term): renewal stays a lazy read after that."""
    settling = {
        w.asset.id: w for _, w in writes if rules.settles_terms(stored.get(w.asset.id), w.asset)
    }
    if not settling:
        return writes
    now = clock()
    settled: dict[str, list[Subscription]] = {}
    for held in tx.subscriptions_of(list(settling)):
        write = settling[held.asset]
        term = rules.settle_term(_term(held), stored[held.asset], write.asset, now)
        if term != _term(held):
            settled.setdefault(held.asset, []).append(
                replace(held, ends_at=term.end, auto_renew=term.renews)
            )
    return [
        (i, replace(w, subscriptions=tuple(settled[w.asset.id])) if w.asset.id in settled else w)
        for i, w in writes
    ]


class _Refused(Exception):
    def __init__(self, refusal: GalleryRefusal, audit: list[AuditRecord]) -> None:
        self.refusal = refusal
        self.audit = audit


def _check(
    before: Asset | None,
    request: WriteRequest,
    ctx: rules.Context,
    has_cover: Callable[[str], bool],
) -> StoredWrite | None:
    """The write as it will be stored, None for no change, or _Refused with the rules' codes."""
    _check_revision(before, request)
    after = _after(before, request, ctx.publisher)
    if after is None or after == before:
        return None
    # The shape first: the rules may assume well-formed values (versions that parse, ...).
    malformed = shape.check_asset(after)
    if malformed:
        raise _Refused(GalleryRefusal(malformed), [])
    errors = [v for v in rules.check_asset(before, after, ctx) if v.severity is Severity.ERROR]
    if errors:
        # Nothing of the asset is published, but a security finding must be on record.
        audit = [
            _record(
                request,
                ctx.publisher,
                {"kind": "refused", "code": v.code, "version": v.version, "message": v.message},
            )
            for v in errors
            if v.code == "image-policy"
        ]
        raise _Refused(GalleryRefusal([_diagnostic(v, request.asset_id) for v in errors]), audit)
    new_covers = {}
    if after.cover is not None and not has_cover(after.cover):
        data = request.covers.get(after.cover)
        if data is None:
            raise _Refused(
                GalleryRefusal(
                    [
                        Diagnostic.of(
                            "file-not-found",
                            f"cover image {after.cover[:12]}… was not uploaded with the write",
                            asset=request.asset_id,
                        )
                    ]
                ),
                [],
            )
        new_covers[after.cover] = data
    return StoredWrite(
        after,
        (before.revision if before else 0) + 1,
        new_covers,
        [_record(request, ctx.publisher, _audited(op)) for op in request.operations],
    )


# What applying a malformed operation (from a hostile or damaged client) may raise.
_MALFORMED = (KeyError, TypeError, ValueError, AttributeError, AssertionError, RecursionError)


def _after(before: Asset | None, request: WriteRequest, account: str) -> Asset | None:
    """The asset after the request's operations, or _Refused (`schema`) if one is malformed."""
    after = before
    for op in request.operations:
        try:
            after = apply_operation(after, op, asset_id=request.asset_id, publisher=account)
        except _MALFORMED as exc:
            kind = getattr(op.kind, "value", op.kind)
            problem = Diagnostic.of(
                "schema",
                f"the gallery refuses the write: its {kind!r} operation is malformed "
                f"({type(exc).__name__}: {shape.quoted(str(exc))})",
                asset=request.asset_id,
                version=op.version if isinstance(op.version, str) else None,
            )
            raise _Refused(GalleryRefusal([problem]), []) from exc
    return after


def _check_revision(before: Asset | None, request: WriteRequest) -> None:
    """Optimistic concurrency only; ownership is one of the rules (`rules.check_asset`)."""
    expected = request.expected_revision
    creates = bool(request.operations) and request.operations[0].kind is OpKind.CREATE
    if before is None and (expected is None) == creates:
        return
    if before is not None and expected == before.revision and not creates:
        return
    found = "does not exist" if before is None else f"is at revision {before.revision}"
    wanted = "not to exist yet" if expected is None else f"at revision {expected}"
    refusal = GalleryRefusal(
        [
            Diagnostic.of(
                "conflict",
                f"asset {request.asset_id!r} changed since it was read: it {found}, the write "
                f"expected it {wanted}. Run plan again to see the gallery as it is now",
                asset=request.asset_id,
            )
        ]
    )
    raise _Refused(refusal, [])


def _store_failure(request: WriteRequest, exc: StoreError) -> GalleryRefusal:
    return GalleryRefusal(
        [
            Diagnostic.of(
                "gallery-error",
                f"the gallery could not store the write: {exc}; nothing of it was kept",
                asset=request.asset_id,
            )
        ]
    )


def _record(request: WriteRequest, account: str, change: dict[str, object]) -> AuditRecord:
    return AuditRecord(account, request.asset_id, change, request.plan_hash, request.message)


def _diagnostic(v: rules.Violation, asset_id: str) -> Diagnostic:
    return Diagnostic(v.code, v.message, v.severity, None, asset_id, v.version)


def _audited(op: Operation) -> dict[str, object]:
    out: dict[str, object] = {"kind": op.kind.value}
    if op.version is not None:
        out["version"] = op.version
    if op.value is not None:
        out["value"] = op.value
    return out
