"""The command line: parse, build, run, and map results to the exit codes of SPEC section 4."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

import click

from gallery_sync import __version__
from gallery_sync.errors import GalleryRefusal, GallerySyncError, UsageError

if TYPE_CHECKING:
    from pathlib import Path

# json, subprocess and pathlib are imported where used: `--help` and start-up stay near
# `import click` (issue 6 asks <= 1.5x).

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
F = TypeVar("F", bound=Callable[..., Any])


def _color() -> bool | None:
    """Colours on a TTY, never with NO_COLOR (https://no-color.org) or on a dumb terminal."""
    return False if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb" else None


# A long text goes out in pieces of about this many characters, cut after a line.
_PIECE = 1 << 20


def echo(text: str, *, err: bool = False, nl: bool = False) -> None:
    click.echo(text, err=err, nl=nl, color=_color())


def echo_lines(lines: Iterable[str], *, err: bool = False) -> None:
    """Lines (each then a newline) written as they come: see echo_pieces."""
    echo_pieces((line + "\n" for line in lines), err=err)


def echo_pieces(pieces: Iterable[str], *, err: bool = False) -> None:
    """Text written as it comes, ~1 MB at a time: click's copy without colours and the
    stream's encoded copy are of a piece, never of the whole text (the text plan of 30,000
    new assets is 3 MB: 99 -> 85 MiB peak). A piece ends a line, or a value of JSON: never
    inside a colour's escape sequence."""
    piece: list[str] = []
    size = 0
    for text in pieces:
        piece.append(text)
        size += len(text)
        if size > _PIECE:
            echo("".join(piece), err=err)
            piece, size = [], 0
    if piece:
        echo("".join(piece), err=err)


def file_option(f: F) -> F:
    return click.option(
        "-f",
        "--file",
        "files",
        multiple=True,
        type=click.Path(),
        help="Config file or directory of *.yaml files (repeatable). Default: gallery.yaml.",
    )(f)


def gallery_option(f: F) -> F:
    return click.option(
        "--gallery",
        envvar="GALLERY_URL",
        show_envvar=True,
        help="Gallery URL: sqlite:///PATH (default: .gallery/gallery.db at the config's root). "
        "Empty (also GALLERY_URL='') is an error, never the default.",
    )(f)


def _exits(f: F) -> F:
    """Commands return their exit code; click's own exit is raised from it."""

    @wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        code = f(*args, **kwargs)
        if code:
            raise SystemExit(code)

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gallery-sync")
def cli() -> None:
    """Keep a model gallery in step with gallery.yaml: validate, plan, apply."""


@cli.command()
@file_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    help="text: file:line:col lines for people; json: {valid, diagnostics} for scripts; "
    "github: ::error workflow commands that annotate a pull request's diff.",
)
@_exits
def validate(files: tuple[str, ...], fmt: str) -> int:
    """Check the config offline: YAML, schema, files, static rules. Exit 0 valid, 1 invalid."""
    from gallery_sync.config import load_config
    from gallery_sync.config.static import check_static
    from gallery_sync.diagnostics import has_errors, sort_diagnostics
    from gallery_sync.render import DIAGNOSTICS_RENDERERS

    config = load_config(list(files) or ["gallery.yaml"])
    # The rules a gallery is not needed for (default taxonomy, a released asset with no
    # released version); plan checks them again against the gallery itself.
    found = sort_diagnostics(config.diagnostics + check_static(config))
    echo(DIAGNOSTICS_RENDERERS[fmt](found))
    return EXIT_ERROR if has_errors(found) else EXIT_OK


def _plan_options(f: F) -> F:
    f = click.option("--prune", is_flag=True, help="Discontinue assets no file declares.")(f)
    f = click.option(
        "--target", "targets", multiple=True, metavar="ID", help="Only these assets (repeatable)."
    )(f)
    return f


def config_root(files: tuple[str, ...]) -> Path:
    """The config's root: the first -f directory, or the directory of the first -f file; the
    current directory without -f. The embedded gallery lives there, whatever the cwd."""
    from pathlib import Path

    if not files:
        return Path(".")
    first = Path(files[0])
    # os.path.isdir: False, not PermissionError, where the file system will not say; the read
    # that follows names the file and why.
    return first if os.path.isdir(first) else first.parent


def _make_plan(
    files: tuple[str, ...],
    gallery_url: str | None,
    prune: bool,
    targets: tuple[str, ...],
    *,
    create: bool = False,
) -> tuple[Any, Any, Any]:
    """Load the config and the gallery, and plan; returns (config, gallery, plan or None)."""
    from gallery_sync.config import load_config
    from gallery_sync.engine import desired_state, make_plan
    from gallery_sync.gallery import Principal, open_gallery

    config = load_config(list(files) or ["gallery.yaml"])
    if not config.valid:
        return config, None, None
    gallery = open_gallery(
        gallery_url,
        root=config_root(files),
        create=create,
        principal=Principal.embedded(config.publisher or ""),
    )
    plan = make_plan(desired_state(config), gallery, prune=prune, targets=targets)
    return config, gallery, plan


@cli.command()
@file_option
@gallery_option
@click.option("--out", type=click.Path(dir_okay=False), help="Save the plan for `apply FILE`.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown", "json", "github"]),
    default="text",
    show_default=True,
    help="text: the plan for a terminal; markdown: a pull-request comment (under 60,000 "
    "characters); json: the whole plan for scripts (--out saves it compact); github: ::error "
    "workflow commands that annotate a pull request, and a ::notice with the summary.",
)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when the plan has changes.")
@_plan_options
@_exits
def plan(
    files: tuple[str, ...],
    gallery: str | None,
    out: str | None,
    fmt: str,
    detailed_exitcode: bool,
    prune: bool,
    targets: tuple[str, ...],
) -> int:
    """Show what apply would change. Exit 0 ok, 1 errors, 2 changes (--detailed-exitcode)."""
    from gallery_sync.render import DIAGNOSTICS_RENDERERS, PLAN_RENDERERS

    config, _, the_plan = _make_plan(files, gallery, prune, targets)
    if the_plan is None:
        renderer = DIAGNOSTICS_RENDERERS.get(fmt, DIAGNOSTICS_RENDERERS["text"])
        echo(renderer(config.diagnostics))
        if out:
            echo(f"error: the configuration is invalid; no plan was saved to {out}\n", err=True)
        return EXIT_ERROR
    if fmt == "text":
        from gallery_sync.render.text import plan_lines

        echo_lines(plan_lines(the_plan))
    elif fmt == "json":
        from gallery_sync.render.json_ import plan_pieces

        echo_pieces(plan_pieces(the_plan))
    else:
        echo(PLAN_RENDERERS[fmt](the_plan))
    if the_plan.has_errors:
        if out:
            echo(
                f"error: the plan has errors; it was not saved to {out}. Fix them and plan again\n",
                err=True,
            )
        return EXIT_ERROR
    if out:
        from pathlib import Path

        _save_plan(the_plan, Path(out))
        echo(f"Saved the plan to {out}; apply it with: gallery-sync apply {out}\n", err=True)
    return EXIT_CHANGES if detailed_exitcode and the_plan.has_changes else EXIT_OK


def _save_plan(the_plan: Any, path: Path) -> None:
    from gallery_sync.saved import write_plan_file

    write_plan_file(the_plan, path)


@cli.command()
@click.argument("planfile", required=False, type=click.Path())
@file_option
@gallery_option
@click.option("--auto-approve", is_flag=True, help="Apply without asking for 'yes'.")
@click.option("--message", "-m", help="Recorded in the audit log (default: the git commit).")
@click.option(
    "--plan-hash",
    metavar="SHA256",
    help="With PLANFILE: refuse any plan but the one with this hash (all 64 hex digits, as "
    "`plan` shows it), so that CI applies exactly the plan a reviewer saw.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: the whole apply report (every asset) on standard output; the plan and the "
    "progress go to standard error.",
)
@_plan_options
@_exits
def apply(
    planfile: str | None,
    files: tuple[str, ...],
    gallery: str | None,
    auto_approve: bool,
    message: str | None,
    plan_hash: str | None,
    fmt: str,
    prune: bool,
    targets: tuple[str, ...],
) -> int:
    """Carry out the plan (or a saved PLANFILE). Exit 0 all applied, 1 anything failed."""
    from pathlib import Path

    from gallery_sync.apply import ApplyReport
    from gallery_sync.engine import run_apply
    from gallery_sync.render import DIAGNOSTICS_RENDERERS
    from gallery_sync.render.text import plan_lines, render_apply_report

    as_json = fmt == "json"

    def say(text: str) -> None:  # what a person reads: on stderr when stdout carries JSON
        echo(text, err=as_json)

    if plan_hash is not None and not planfile:
        raise UsageError("--plan-hash pins a saved plan: pass the PLANFILE it belongs to")
    if planfile and (files or prune or targets):
        raise UsageError(
            "a saved plan is applied whole; plan again with --target to narrow it "
            "(-f, --prune and --target do not go with PLANFILE)"
        )
    inputs: list[str] = list(files) or ["gallery.yaml"]
    if planfile:
        the_plan, store = _load_saved_plan(Path(planfile), gallery, plan_hash)
    else:
        config, store, the_plan = _make_plan(files, gallery, prune, targets, create=True)
        if the_plan is None:
            say(DIAGNOSTICS_RENDERERS["text"](config.diagnostics))
            return EXIT_ERROR
        inputs += list(config.inputs)
    echo_lines(plan_lines(the_plan), err=as_json)
    if the_plan.has_errors or not the_plan.has_changes:
        if as_json:
            echo(_apply_json(ApplyReport(), the_plan))
        return EXIT_ERROR if the_plan.has_errors else EXIT_OK
    if not planfile and not auto_approve:
        if not sys.stdin.isatty():
            echo(
                "error: refusing to apply without confirmation: stdin is not a terminal. "
                "Pass --auto-approve, or save a reviewed plan with `plan --out FILE` and run "
                "`apply FILE`.\n",
                err=True,
            )
            return EXIT_ERROR
        try:
            answer = click.prompt(
                "Apply these changes? Only 'yes' will be accepted",
                default="",
                show_default=False,
                err=as_json,
            )
        except click.exceptions.Abort:  # Ctrl-C or end of input at the prompt
            echo("\n", err=as_json)  # the cursor is still on the prompt's line
            answer = ""
        if answer != "yes":
            say("Apply cancelled; nothing was written.\n")
            return EXIT_ERROR
    base = Path(files[0]) if files else Path("gallery.yaml")
    with _stop_requests() as should_stop:
        report = run_apply(
            the_plan,
            store,
            message=message if message is not None else _git_commit(base, inputs),
            progress=_progress(len(the_plan.changed), sys.stderr if as_json else sys.stdout),
            should_stop=should_stop,
        )
    say(render_apply_report(report))
    if as_json:
        echo(_apply_json(report, the_plan))
    return EXIT_OK if report.ok else EXIT_ERROR


def _apply_json(report: Any, the_plan: Any) -> str:
    from gallery_sync.render.escape import json_text

    body = {
        "plan_hash": the_plan.digest(),
        **report.to_json(),
        "diagnostics": [d.to_json() for d in the_plan.diagnostics],
    }
    return json_text(body)


@contextmanager
def _stop_requests() -> Iterator[Callable[[], bool]]:
    """Ctrl-C (SIGINT) and SIGTERM during apply are noted, not raised: the batch in flight
    commits and is reported, then the run stops, so that the report is exact. The handlers
    are this command's, restored after it; the library holds no signal state."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    requested: list[int] = []

    def note(signum: int, frame: object) -> None:
        requested.append(signum)

    previous = {sig: signal.signal(sig, note) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield lambda: bool(requested)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _progress(total: int, stream: TextIO) -> Callable[[list[tuple[Any, Any]]], None]:
    """A progress bar on a terminal; plain lines (one per asset) in logs and CI, written once
    per committed batch."""
    done = [0]
    on_tty = stream.isatty()
    on_stderr = stream is sys.stderr

    def show(batch: list[tuple[Any, Any]]) -> None:
        lines = []
        for asset, result in batch:
            done[0] += 1
            line = f"[{done[0]}/{total}] {asset.id}: {result.outcome.value}\n"
            if not on_tty or result.outcome.value != "applied":
                lines.append(line)  # in a log every asset has its line; on screen, failures
        if not on_tty:
            stream.write("".join(lines))  # plain text: no styling to strip
            stream.flush()
            return
        for line in lines:
            echo("\r\x1b[K" + line, err=on_stderr)
        filled = done[0] * 30 // total
        bar = "#" * filled + "." * (30 - filled)
        echo(f"\r\x1b[K[{bar}] {done[0]}/{total} {batch[-1][0].id}"[:120], err=on_stderr)
        if done[0] == total:
            echo("\n", err=on_stderr)

    return show


def _load_saved_plan(path: Path, gallery_url: str | None, plan_hash: str | None) -> tuple[Any, Any]:
    from gallery_sync.gallery import Gallery, Principal, open_gallery
    from gallery_sync.saved import load_saved_plan

    def open_as(url: str, publisher: str) -> Gallery:
        return open_gallery(url, principal=Principal.embedded(publisher))

    return load_saved_plan(path, open_as, gallery_url, plan_hash=plan_hash)


def _git_commit(config_path: Path, inputs: list[str]) -> str:
    """`git <HEAD>` of the config's repository, `(modified)` when a file the config was read
    from (or the config itself) differs from HEAD; "" outside a repository."""
    import subprocess

    where = config_path if os.path.isdir(config_path) else config_path.parent

    def git(*args: str) -> subprocess.CompletedProcess[str] | None:
        try:
            return subprocess.run(
                ["git", *args],
                cwd=where or ".",
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return None

    head = git("rev-parse", "HEAD")
    if head is None or head.returncode != 0:
        return ""
    from pathlib import Path

    paths = [str(Path(p).resolve()) for p in inputs]
    status = git("status", "--porcelain", "--untracked-files=all", "--", *paths)
    modified = status is not None and status.returncode == 0 and bool(status.stdout.strip())
    return f"git {head.stdout.strip()}" + (" (modified)" if modified else "")


def _root_option(f: F) -> F:
    return click.option(
        "-f",
        "--file",
        "config",
        type=click.Path(),
        help="A config file or directory: use the embedded gallery at its root "
        "(default: the current directory's).",
    )(f)


def _open_for_reading(gallery: str | None, config: str | None) -> Any:
    """The gallery a read-only command reads; never created (none: an error saying how)."""
    from gallery_sync.gallery import open_gallery

    return open_gallery(gallery, root=config_root((config,) if config else ()))


def _text_or_json(json_help: str) -> Callable[[F], F]:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help=f"text for people; json: {json_help}.",
    )


@cli.command()
@gallery_option
@_root_option
@click.argument("asset_id", required=False)
@_text_or_json("{id: asset} for scripts")
@_exits
def show(gallery: str | None, config: str | None, asset_id: str | None, fmt: str) -> int:
    """Print the gallery's current state (one asset with ID)."""
    from gallery_sync.render.escape import json_text, terminal_line
    from gallery_sync.render.text import render_state

    assets = dict(_open_for_reading(gallery, config).read_state().assets)
    if asset_id is not None:
        if asset_id not in assets:
            echo(f"error: no asset {terminal_line(repr(asset_id))} in the gallery\n", err=True)
            return EXIT_ERROR
        assets = {asset_id: assets[asset_id]}
    if fmt == "json":
        body = {
            k: {"publisher": a.publisher, "revision": a.revision, **a.to_json()}
            for k, a in sorted(assets.items())
        }
        echo(json_text(body))
    else:
        echo(render_state(assets))
    return EXIT_OK


@cli.command()
@gallery_option
@_root_option
@click.argument("asset_id", required=False)
@_text_or_json(
    "a list of entries (id, time, account, asset, change, plan_hash, message), newest first"
)
@_exits
def history(gallery: str | None, config: str | None, asset_id: str | None, fmt: str) -> int:
    """Print the audit log, newest first (of one asset with ID)."""
    from gallery_sync.render.escape import json_text, terminal_line
    from gallery_sync.render.text import render_history

    opened = _open_for_reading(gallery, config)
    entries = opened.history(asset_id)
    if asset_id is not None and not entries and asset_id not in opened.read_state().assets:
        echo(f"error: no asset {terminal_line(repr(asset_id))} in the gallery\n", err=True)
        return EXIT_ERROR
    if fmt == "json":
        fields = ("id", "time", "account", "asset", "change", "plan_hash", "message")
        echo(json_text([{k: getattr(e, k) for k in fields} for e in entries]))
    else:
        echo(render_history(entries))
    return EXIT_OK


@cli.command("import")
@gallery_option
@click.argument("asset_ids", nargs=-1, metavar="[ID]...")
@click.option("--account", help="Whose assets (default: the only publisher in the gallery).")
@click.option(
    "-o",
    "--output",
    default="gallery.yaml",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Where to write the config ('-' for standard output). Beside another config file, "
    "it takes that file's publisher and defaults, so the folder plans as one config. An "
    "import over 32 MiB (about 40,000 assets; GALLERY_SYNC_IMPORT_PART_BYTES lowers it) is "
    "split between assets into FILE, FILE-2, FILE-3, ... beside it, each with the same "
    "publisher and defaults: plan that folder with -f.",
)
@click.option(
    "--files-dir",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder for covers/ and docs/ (long descriptions), relative to the output file's "
    "folder (to the current directory with -o -, where the YAML is to be saved).",
)
@click.option("--force", is_flag=True, help="Overwrite existing files with other content.")
@_root_option
@_exits
def import_(
    gallery: str | None,
    asset_ids: tuple[str, ...],
    account: str | None,
    output: str,
    files_dir: str,
    force: bool,
    config: str | None,
) -> int:
    """Write the gallery's assets (only IDs, if given) as a config that plans to no changes."""
    from pathlib import Path

    from gallery_sync.importer import (
        PART_BYTES,
        build_import,
        find_neighbour,
        pick_account,
        write_import,
    )
    from gallery_sync.render.values import count

    opened = _open_for_reading(gallery, config)
    assets = dict(opened.read_state().assets)
    target = None if output == "-" else Path(output)
    root = target.parent if target is not None else Path(".")
    # Standard output sits beside nothing: only a file written next to a config joins it.
    neighbour = find_neighbour(root, target) if target is not None else None
    who = pick_account(assets, account, neighbour)
    side = files_dir
    if os.path.isabs(side):  # the user's own folder, named from where the config goes
        side = os.path.relpath(side, root)
    imported = build_import(
        assets,
        opened.catalog(()),
        who,
        opened.cover,
        ids=frozenset(asset_ids),
        neighbour=neighbour,
        files_dir=side,
        part_bytes=_part_bytes(PART_BYTES),
    )
    written = write_import(imported, target, root, force=force)
    if target is None:
        echo(imported.text)
        if written:
            echo(f"Wrote {count(len(written), 'side file')} under {files_dir}\n", err=True)
        return EXIT_OK
    parts = len(imported.parts)
    echo(f"Imported {count(imported.assets, 'asset')} of {who} into {written[0]}")
    if parts > 1:
        echo(f" and {count(parts - 1, 'more part')} beside it ({written[1].name}, ...)")
    side_files = len(written) - parts
    echo(f" (and {count(side_files, 'file')})\n" if side_files else "\n")
    if parts > 1:
        echo(f"Plan them as one config: gallery-sync plan -f {root}\n")
    return EXIT_OK


def _part_bytes(default: int) -> int:
    """The largest part of a split import: GALLERY_SYNC_IMPORT_PART_BYTES may lower it."""
    raw = os.environ.get("GALLERY_SYNC_IMPORT_PART_BYTES", "")
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise UsageError(f"GALLERY_SYNC_IMPORT_PART_BYTES={raw!r}: a positive number of bytes")
    return min(int(raw), default)


@cli.command()
def schema() -> None:
    """Print the JSON Schema of gallery.yaml."""
    import json

    from gallery_sync.config.schema import schema as load_schema

    echo(json.dumps(load_schema(), indent=2) + "\n")


@cli.group()
def apps() -> None:
    """The embedded gallery's catalog of AI applications."""


@apps.command("add")
@click.argument("name")
@click.option("--region", required=True, help="Region of the application, e.g. cn-north-4.")
@click.option("--image", help="Container image reference: marks a container-image application.")
@click.option(
    "--new-region",
    is_flag=True,
    help="REGION is newer than gallery-sync's list of known regions: take it as it is.",
)
@gallery_option
@_root_option
def apps_add(
    name: str,
    region: str,
    image: str | None,
    new_region: bool,
    gallery: str | None,
    config: str | None,
) -> None:
    """Register AI application NAME in REGION."""
    from gallery_sync.gallery import open_gallery
    from gallery_sync.model import Application
    from gallery_sync.shape import check_application

    problems = check_application(name, region, image)
    if problems:  # checked before a gallery is created for it
        raise UsageError("; ".join(problems))
    if not new_region:
        _check_known_region(region)
    root = config_root((config,) if config else ())
    opened = open_gallery(gallery, root=root, create=True)
    outcome = opened.add_application(Application(name, region, image))
    echo(f"{outcome}: {region}/{name}" + (f" (image {image})" if image else "") + "\n")


def _check_known_region(region: str) -> None:
    import difflib

    from gallery_sync.defaults import KNOWN_REGIONS

    if region in KNOWN_REGIONS:
        return
    close = difflib.get_close_matches(region, KNOWN_REGIONS, n=1, cutoff=0.6)
    guess = f" (did you mean {close[0]!r}?)" if close else ""
    raise UsageError(
        f"unknown region {region!r}{guess}; known regions: {', '.join(KNOWN_REGIONS)}. "
        "For a region newer than this list, pass --new-region"
    )


@apps.command("list")
@gallery_option
@_root_option
def apps_list(gallery: str | None, config: str | None) -> None:
    """List the registered AI applications."""
    from gallery_sync.render.escape import terminal_line

    catalog = _open_for_reading(gallery, config).catalog()
    for (region, name), app in sorted(catalog.applications.items()):
        line = f"{region}\t{name}" + (f"\t{app.image}" if app.image else "")
        echo("\t".join(terminal_line(part) for part in line.split("\t")) + "\n")


@apps.command("registries")
@click.argument("patterns", nargs=-1)
@click.option("--default", "reset", is_flag=True, help="Go back to the default registries.")
@gallery_option
@_root_option
def apps_registries(
    patterns: tuple[str, ...], reset: bool, gallery: str | None, config: str | None
) -> None:
    """Show, or set to PATTERNS (fnmatch, e.g. swr.*.myhuaweicloud.com), the registries
    container images may come from."""
    from gallery_sync.gallery import open_gallery
    from gallery_sync.render.escape import terminal_line
    from gallery_sync.rules import DEFAULT_ALLOWED_REGISTRIES
    from gallery_sync.shape import check_registry_pattern

    if reset and patterns:
        raise UsageError("give PATTERNS or --default, not both")
    problems = [p for pattern in patterns for p in check_registry_pattern(pattern)]
    if problems:
        raise UsageError("; ".join(problems))
    writes = bool(patterns) or reset
    root = config_root((config,) if config else ())
    opened = open_gallery(gallery, root=root, create=writes)
    operator = opened.admin()
    if writes:
        if operator is None:
            raise UsageError(
                f"the registries of {opened.url} are its operator's: set them with "
                "`gallery-sync admin registries PATTERN... --store URL`"
            )
        operator.set_allowed_registries(list(patterns or DEFAULT_ALLOWED_REGISTRIES))
    for pattern in opened.catalog(()).allowed_registries:
        echo(terminal_line(pattern) + "\n")


@cli.group()
def admin() -> None:
    """The operator's commands, straight on a store (--store sqlite:///PATH or
    postgresql://...): API tokens, allowed registries, categories, agreements."""


def _store_option(f: F) -> F:
    return click.option(
        "--store",
        required=True,
        help="The gallery's store: sqlite:///PATH or postgresql://USER@HOST/DB.",
    )(f)


def _operate(url: str, *, writes: bool) -> Any:
    """The store at `url`; only a command that writes creates (and migrates) one."""
    from gallery_sync.gallery import open_store

    return open_store(url, create=writes)


def _lines(values: Iterable[str]) -> None:
    from gallery_sync.render.escape import terminal_line

    for value in values:
        echo(terminal_line(value) + "\n")


def _invalid(problems: list[str]) -> None:
    if problems:
        raise UsageError("; ".join(problems))


@admin.group("token")
def admin_token() -> None:
    """API tokens of the served gallery: shown once when made; only a hash is kept."""


@admin_token.command("create")
@click.option("--account", required=True, help="The account the token acts as.")
@click.option(
    "--role",
    type=click.Choice(["publisher", "admin"]),
    default="publisher",
    show_default=True,
    help="publisher: reads and writes as the account; admin: sees everything.",
)
@_store_option
def admin_token_create(account: str, role: str, store: str) -> None:
    """Make a token for ACCOUNT and print it, alone, on standard output (once: only its hash
    is kept), so that TOKEN=$(gallery-sync admin token create ...) works."""
    from gallery_sync.gallery.accounts import new_token, token_hash
    from gallery_sync.shape import check_account

    _invalid(check_account(account))
    opened = _operate(store, writes=True)
    try:
        token = new_token()
        token_id = opened.create_token(account, role, token_hash(token))
    finally:
        opened.close()
    echo(token + "\n")
    echo(
        f"Token {token_id} made for account {_escaped(account)} ({role}). It is shown this "
        "once; keep it as a secret (GALLERY_TOKEN).\n",
        err=True,
    )


@admin_token.command("list")
@_store_option
def admin_token_list(store: str) -> None:
    """List the tokens: id, account, role, when made, when revoked (never a token)."""
    opened = _operate(store, writes=False)
    try:
        tokens = opened.list_tokens()
    finally:
        opened.close()
    if not tokens:
        echo("No tokens. `gallery-sync admin token create --account NAME` makes one.\n")
        return
    rows = [("ID", "ACCOUNT", "ROLE", "CREATED", "REVOKED")] + [
        (str(t.id), t.account, t.role, t.created_at, t.revoked_at or "-") for t in tokens
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    _lines(
        "  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[4]])
        for row in rows
    )


@admin_token.command("revoke")
@click.argument("token_id", metavar="ID", type=int)
@_store_option
def admin_token_revoke(token_id: int, store: str) -> None:
    """Revoke token ID: from now on it is refused (unauthenticated)."""
    from gallery_sync.diagnostics import Diagnostic

    opened = _operate(store, writes=True)
    try:
        revoked = opened.revoke_token(token_id)
    finally:
        opened.close()
    if not revoked:
        raise GalleryRefusal(
            [
                Diagnostic.of(
                    "not-found",
                    f"no token {token_id} to revoke (or it was revoked before); "
                    "`gallery-sync admin token list` shows them",
                )
            ]
        )
    echo(f"Token {token_id} revoked.\n")


@admin.command("registries")
@click.argument("patterns", nargs=-1)
@click.option("--default", "reset", is_flag=True, help="Go back to the default registries.")
@_store_option
def admin_registries(patterns: tuple[str, ...], reset: bool, store: str) -> None:
    """Show, or set to PATTERNS (fnmatch, e.g. swr.*.myhuaweicloud.com), the registries
    container images may come from."""
    from gallery_sync.rules import DEFAULT_ALLOWED_REGISTRIES
    from gallery_sync.shape import check_registry_pattern

    if reset and patterns:
        raise UsageError("give PATTERNS or --default, not both")
    _invalid([p for pattern in patterns for p in check_registry_pattern(pattern)])
    writes = bool(patterns) or reset
    opened = _operate(store, writes=writes)
    try:
        if writes:
            opened.set_allowed_registries(list(patterns or DEFAULT_ALLOWED_REGISTRIES))
        _lines(opened.allowed_registries())
    finally:
        opened.close()


def _edit(words: tuple[str, ...], usage: str, arity: dict[str, int]) -> tuple[str, ...]:
    """`[add ...|remove ...]` of a catalog command: () to list, else the action and its
    arguments, each action with its number of them."""
    if not words:
        return ()
    action, *rest = words
    if action not in arity or len(rest) != arity[action]:
        raise UsageError(f"expected {usage}; got {' '.join(words)!r}")
    return (action, *rest)


@admin.command("categories")
@click.argument("words", nargs=-1, metavar="[add SLUG | remove SLUG]")
@_store_option
def admin_categories(words: tuple[str, ...], store: str) -> None:
    """List the taxonomy's categories, or add or remove one (an asset keeps a removed category;
    no new one may use it)."""
    from gallery_sync.shape import check_category

    edit = _edit(words, "add SLUG or remove SLUG", {"add": 1, "remove": 1})
    if edit:
        _invalid(check_category(edit[1]))
    opened = _operate(store, writes=bool(edit))
    try:
        if edit:
            change = {"add": opened.add_category, "remove": opened.remove_category}[edit[0]]
            done = change(edit[1])
            said = {"add": "added", "remove": "removed"}[edit[0]] if done else "unchanged"
            echo(f"{_escaped(edit[1])}: {said}\n", err=True)
        _lines(sorted(opened.categories()))
    finally:
        opened.close()


@admin.command("agreements")
@click.argument("words", nargs=-1, metavar="[add ID TITLE | remove ID]")
@_store_option
def admin_agreements(words: tuple[str, ...], store: str) -> None:
    """List the agreements every new publish needs, or add one (with its title) or remove one."""
    from gallery_sync.shape import check_agreement

    edit = _edit(words, "add ID TITLE or remove ID", {"add": 2, "remove": 1})
    if edit:
        _invalid(check_agreement(edit[1], edit[2] if edit[0] == "add" else None))
    opened = _operate(store, writes=bool(edit))
    try:
        if edit and edit[0] == "add":
            outcome = opened.add_agreement(edit[1], edit[2])
            echo(f"{_escaped(edit[1])}: {outcome}\n", err=True)
        elif edit:
            done = opened.remove_agreement(edit[1])
            echo(f"{_escaped(edit[1])}: {'removed' if done else 'unchanged'}\n", err=True)
        _lines(f"{key}  {title}" for key, title in sorted(opened.agreement_titles().items()))
    finally:
        opened.close()


# --- reconcile: pull mode (SPEC section 9) ---------------------------------------------------


@cli.group(invoke_without_command=True)
@click.option("--repo", help="The git repository: a path or a URL (only ever fetched from).")
@click.option("--branch", default="main", show_default=True, help="The branch to follow.")
@click.option(
    "--path",
    "config_path",
    default="gallery.yaml",
    show_default=True,
    help="The config file or directory, inside the repository.",
)
@gallery_option
@click.option(
    "--interval", type=float, default=60.0, show_default=True, help="Seconds between rounds."
)
@click.option(
    "--drift",
    type=click.Choice(["report", "revert"]),
    default="report",
    show_default=True,
    help="What to do when the gallery was changed outside git: report it, or revert it where "
    "the rules allow (what they do not, e.g. a version published outside git, stays reported).",
)
@click.option("--once", is_flag=True, help="One round, then exit 0 (all done) or 1 (as apply).")
@click.option(
    "--status-addr",
    default="127.0.0.1:9469",
    show_default=True,
    help="Where /healthz, /metrics and /status are served ('' for nowhere; port 0: any).",
)
@click.option(
    "--cache",
    type=click.Path(file_okay=False),
    help="The git cache (default: $XDG_CACHE_HOME/gallery-sync/repos).",
)
@click.option(
    "--max-backoff",
    type=float,
    default=300.0,
    show_default=True,
    help="The longest wait between retries after failures (exponential, full jitter).",
)
@click.pass_context
@_exits
def reconcile(
    ctx: click.Context,
    repo: str | None,
    branch: str,
    config_path: str,
    gallery: str | None,
    interval: float,
    drift: str,
    once: bool,
    status_addr: str,
    cache: str | None,
    max_backoff: float,
) -> int:
    """Pull mode: apply what the branch holds, commit by commit, and watch for drift.

    Each round fetches the branch; a new commit is planned and, without errors, applied
    with `git <sha>` as its message; between commits the gallery is planned again and any
    change is drift. JSON log lines on standard error. Runs until SIGTERM (exit 0).
    """
    if ctx.invoked_subcommand is not None:
        return EXIT_OK
    from gallery_sync.reconcile_cmd import run_reconcile

    if repo is None:
        raise UsageError("reconcile needs --repo PATH_OR_URL (or: reconcile status)")
    return run_reconcile(
        repo=repo,
        branch=branch,
        path=config_path,
        gallery=gallery,
        interval=interval,
        drift=drift,
        once=once,
        status_addr=status_addr,
        cache=cache,
        max_backoff=max_backoff,
    )


@reconcile.command("status")
@click.option(
    "--status-addr",
    default="127.0.0.1:9469",
    show_default=True,
    help="Where the loop serves its status.",
)
def reconcile_status(status_addr: str) -> None:
    """Print a running reconcile loop's JSON status."""
    from gallery_sync.reconcile_http import fetch_status
    from gallery_sync.render.escape import json_text

    echo(json_text(fetch_status(status_addr)))


@cli.command()
@click.option(
    "--store", required=True, help="sqlite:///PATH (one process) or postgresql://HOST/DATABASE."
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
def serve(store: str, host: str, port: int) -> None:
    """Serve the gallery over HTTP (migrating its store first) until SIGTERM."""
    import signal

    from gallery_sync.server.app import run

    gc.enable()  # main() turns it off for short commands; a server runs for days
    # A write batch allocates ~100,000 containers that live until it commits: at the default
    # 700 the collector ran ~11 full passes over them per 10,000-asset apply (0.65 s, a third
    # of serve's CPU on that path). 10,000 keeps young collections cheap and full ones rare.
    gc.set_threshold(10_000, 10, 10)
    # uvicorn stops gracefully on SIGTERM/SIGINT, then raises the signal again under the
    # handlers it found: let that be a no-op, so that a requested stop exits 0.
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, lambda signum, frame: None)
    run(store, host, port)


def main(argv: list[str] | None = None) -> int:
    """Entry point: expected failures are one line and exit 1; usage errors too (2 = changes)."""
    # A command is a short process building millions of small acyclic objects (parsed YAML,
    # assets, plan lines); reference counting frees them. The cyclic collector would rescan
    # them all on every full pass: 0.26 s of a 10,000-asset plan render, for nothing.
    gc.disable()
    try:
        cli.main(args=argv, prog_name="gallery-sync", standalone_mode=False)
    except SystemExit as exc:
        return int(exc.code or 0) if isinstance(exc.code, int) else EXIT_ERROR
    except click.exceptions.Abort:
        echo("\nAborted; nothing was written.\n", err=True)
        return EXIT_ERROR
    except click.ClickException as exc:
        import io

        shown = io.StringIO()
        exc.show(file=shown)  # usage and message; the message may quote what the user typed
        echo(_escaped(shown.getvalue()), err=True)
        return EXIT_ERROR
    except GalleryRefusal as exc:
        from gallery_sync.render.text import diagnostic_line

        for d in exc.diagnostics:
            echo(diagnostic_line(d) + "\n", err=True)
        return EXIT_ERROR
    except GallerySyncError as exc:
        from gallery_sync.diagnostics import CODES

        code = f" ({exc.code})" if exc.code in CODES else ""  # gallery-unavailable, ...
        echo(f"error: {_escaped(str(exc))}{code}\n", err=True)
        return EXIT_ERROR
    except KeyboardInterrupt:
        echo("Interrupted.\n", err=True)
        return 130
    except Exception as exc:  # a bug, not bad input: say so briefly, details on request
        if os.environ.get("GALLERY_SYNC_DEBUG"):
            raise
        echo(
            f"internal error: {type(exc).__name__}: {_escaped(str(exc))}\n"
            "This is a bug in gallery-sync; run again with GALLERY_SYNC_DEBUG=1 for the "
            "traceback, and report it.\n",
            err=True,
        )
        return EXIT_ERROR
    return EXIT_OK


def _escaped(text: str) -> str:
    """An error's text, its file names and values included, safe for a terminal."""
    from gallery_sync.render.escape import terminal

    return terminal(text)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
