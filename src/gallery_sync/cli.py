"""The command line: parse, build, run, and map results to the exit codes of SPEC section 4."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

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
    """Colours on a TTY, never with NO_COLOR (https://no-color.org)."""
    return False if os.environ.get("NO_COLOR") else None


def echo(text: str, *, err: bool = False, nl: bool = False) -> None:
    click.echo(text, err=err, nl=nl, color=_color())


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
    return first if first.is_dir() else first.parent


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
    from gallery_sync.gallery import open_gallery
    from gallery_sync.plan import build_plan

    config = load_config(list(files) or ["gallery.yaml"])
    if not config.valid:
        return config, None, None
    gallery = open_gallery(gallery_url, root=config_root(files), create=create)
    state = gallery.read_state()
    unknown = sorted(set(targets) - set(config.assets) - set(state.assets))
    if unknown:
        raise UsageError(f"--target {', '.join(unknown)}: no such asset in the config or gallery")
    plan = build_plan(
        config,
        state,
        gallery.catalog(),
        gallery=gallery.url,
        account=gallery.account(),
        prune=prune,
        targets=frozenset(targets),
    )
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
        return EXIT_ERROR
    echo(PLAN_RENDERERS[fmt](the_plan))
    if out:
        from pathlib import Path

        _save_plan(the_plan, Path(out))
        echo(f"Saved the plan to {out}; apply it with: gallery-sync apply {out}\n", err=True)
    if the_plan.has_errors:
        return EXIT_ERROR
    return EXIT_CHANGES if detailed_exitcode and the_plan.has_changes else EXIT_OK


def _save_plan(the_plan: Any, path: Path) -> None:
    """Write atomically: a reader never sees half a plan file."""
    from gallery_sync.render.json_ import render_plan

    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(render_plan(the_plan))
        os.replace(tmp, path)
    except OSError as exc:
        raise GallerySyncError(f"cannot write the plan to {path}: {exc.strerror}") from exc


@cli.command()
@click.argument("planfile", required=False, type=click.Path(dir_okay=False))
@file_option
@gallery_option
@click.option("--auto-approve", is_flag=True, help="Apply without asking for 'yes'.")
@click.option("--message", "-m", help="Recorded in the audit log (default: the git commit).")
@_plan_options
@_exits
def apply(
    planfile: str | None,
    files: tuple[str, ...],
    gallery: str | None,
    auto_approve: bool,
    message: str | None,
    prune: bool,
    targets: tuple[str, ...],
) -> int:
    """Carry out the plan (or a saved PLANFILE). Exit 0 all applied, 1 anything failed."""
    from pathlib import Path

    from gallery_sync.apply import apply_plan
    from gallery_sync.render import DIAGNOSTICS_RENDERERS
    from gallery_sync.render.text import render_apply_report, render_plan

    if planfile:
        the_plan, store = _load_saved_plan(Path(planfile), gallery)
    else:
        config, store, the_plan = _make_plan(files, gallery, prune, targets, create=True)
        if the_plan is None:
            echo(DIAGNOSTICS_RENDERERS["text"](config.diagnostics))
            return EXIT_ERROR
    echo(render_plan(the_plan))
    if the_plan.has_errors:
        return EXIT_ERROR
    if not the_plan.has_changes:
        return EXIT_OK
    if not planfile and not auto_approve:
        if not sys.stdin.isatty():
            echo(
                "error: refusing to apply without confirmation: stdin is not a terminal. "
                "Pass --auto-approve, or save a reviewed plan with `plan --out FILE` and run "
                "`apply FILE`.\n",
                err=True,
            )
            return EXIT_ERROR
        answer = click.prompt(
            "Apply these changes? Only 'yes' will be accepted", default="", show_default=False
        )
        if answer != "yes":
            echo("Apply cancelled; nothing was written.\n")
            return EXIT_ERROR
    base = Path(files[0]) if files else Path("gallery.yaml")
    report = apply_plan(
        the_plan,
        store,
        message=message if message is not None else _git_commit(base),
        progress=_progress(len(the_plan.changed)),
    )
    echo(render_apply_report(report))
    return EXIT_OK if report.ok else EXIT_ERROR


def _progress(total: int) -> Callable[[list[tuple[Any, Any]]], None]:
    """A progress bar on a terminal; plain lines (one per asset) in logs and CI, written once
    per committed batch."""
    done = [0]
    on_tty = sys.stdout.isatty()

    def show(batch: list[tuple[Any, Any]]) -> None:
        lines = []
        for asset, result in batch:
            done[0] += 1
            line = f"[{done[0]}/{total}] {asset.id}: {result.outcome.value}\n"
            if not on_tty or result.outcome.value != "applied":
                lines.append(line)  # in a log every asset has its line; on screen, failures
        if not on_tty:
            sys.stdout.write("".join(lines))  # plain text: no styling to strip
            sys.stdout.flush()
            return
        for line in lines:
            echo("\r\x1b[K" + line)
        filled = done[0] * 30 // total
        bar = "#" * filled + "." * (30 - filled)
        echo(f"\r\x1b[K[{bar}] {done[0]}/{total} {batch[-1][0].id}"[:120])
        if done[0] == total:
            echo("\n")

    return show


def _load_saved_plan(path: Path, gallery_url: str | None) -> tuple[Any, Any]:
    from gallery_sync.gallery import open_gallery
    from gallery_sync.saved import load_saved_plan

    return load_saved_plan(path, open_gallery, gallery_url)


def _git_commit(config_path: Path) -> str:
    import subprocess

    where = config_path if config_path.is_dir() else config_path.parent
    try:
        found = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=where or ".",
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return f"git {found.stdout.strip()}" if found.returncode == 0 else ""


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


def _json_text(value: Any) -> str:
    """JSON for a terminal: non-ASCII text kept, but every character that could act on a
    terminal (C1 controls, bidi overrides, ...) written as a \\u escape: the same JSON value."""
    import json
    import re

    text = json.dumps(value, indent=2, ensure_ascii=False)
    unsafe = re.compile("[\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
    return unsafe.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n"


@cli.command()
@gallery_option
@_root_option
@click.argument("asset_id", required=False)
@_text_or_json("{id: asset} for scripts")
@_exits
def show(gallery: str | None, config: str | None, asset_id: str | None, fmt: str) -> int:
    """Print the gallery's current state (one asset with ID)."""
    from gallery_sync.render.escape import terminal_line
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
        echo(_json_text(body))
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
    from gallery_sync.render.escape import terminal_line
    from gallery_sync.render.text import render_history

    opened = _open_for_reading(gallery, config)
    entries = opened.history(asset_id)
    if asset_id is not None and not entries and asset_id not in opened.read_state().assets:
        echo(f"error: no asset {terminal_line(repr(asset_id))} in the gallery\n", err=True)
        return EXIT_ERROR
    if fmt == "json":
        fields = ("id", "time", "account", "asset", "change", "plan_hash", "message")
        echo(_json_text([{k: getattr(e, k) for k in fields} for e in entries]))
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

    opened = _open_for_reading(gallery, config)
    assets = dict(opened.read_state().assets)
    target = None if output == "-" else Path(output)
    root = target.parent if target is not None else Path(".")
    # Standard output sits beside nothing: only a file written next to a config joins it.
    neighbour = find_neighbour(root, target) if target is not None else None
    who = pick_account(assets, account, neighbour)
    cover = getattr(opened, "cover", lambda sha: None)
    imported = build_import(
        assets,
        opened.catalog(),
        who,
        cover,
        ids=frozenset(asset_ids),
        neighbour=neighbour,
        files_dir=files_dir,
        part_bytes=_part_bytes(PART_BYTES),
    )
    written = write_import(imported, target, root, force=force)
    if target is None:
        echo(imported.text)
        if written:
            echo(f"Wrote {len(written)} side files under {files_dir}\n", err=True)
        return EXIT_OK
    parts = len(imported.parts)
    echo(f"Imported {imported.assets} assets of {who} into {written[0]}")
    if parts > 1:
        echo(f" and {parts - 1} more parts beside it ({written[1].name}, ...)")
    side = len(written) - parts
    echo(f" (and {side} files)\n" if side else "\n")
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
@gallery_option
@_root_option
def apps_add(
    name: str, region: str, image: str | None, gallery: str | None, config: str | None
) -> None:
    """Register AI application NAME in REGION."""
    from gallery_sync.gallery import open_gallery
    from gallery_sync.model import Application
    from gallery_sync.shape import check_application

    problems = check_application(name, region, image)
    if problems:  # checked before a gallery is created for it
        raise UsageError("; ".join(problems))
    root = config_root((config,) if config else ())
    opened = open_gallery(gallery, root=root, create=True)
    outcome = opened.add_application(Application(name, region, image))
    echo(f"{outcome}: {region}/{name}" + (f" (image {image})" if image else "") + "\n")


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
    from gallery_sync.gallery.local import LocalGallery
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
    if writes:
        if not isinstance(opened, LocalGallery):
            raise UsageError("only the embedded gallery's registries are set from here")
        opened.set_allowed_registries(list(patterns or DEFAULT_ALLOWED_REGISTRIES))
    for pattern in opened.catalog().allowed_registries:
        echo(terminal_line(pattern) + "\n")


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
        echo("Aborted; nothing was written.\n", err=True)
        return EXIT_ERROR
    except click.ClickException as exc:
        exc.show()
        return EXIT_ERROR
    except GalleryRefusal as exc:
        from gallery_sync.render.text import diagnostic_line

        for d in exc.diagnostics:
            echo(diagnostic_line(d) + "\n", err=True)
        return EXIT_ERROR
    except GallerySyncError as exc:
        echo(f"error: {exc}\n", err=True)
        return EXIT_ERROR
    except KeyboardInterrupt:
        echo("Interrupted.\n", err=True)
        return 130
    except Exception as exc:  # a bug, not bad input: say so briefly, details on request
        if os.environ.get("GALLERY_SYNC_DEBUG"):
            raise
        echo(
            f"internal error: {type(exc).__name__}: {exc}\n"
            "This is a bug in gallery-sync; run again with GALLERY_SYNC_DEBUG=1 for the "
            "traceback, and report it.\n",
            err=True,
        )
        return EXIT_ERROR
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
