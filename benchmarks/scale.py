"""Benchmark every command at gallery scale (issue 15), over several shapes of config.

For each shape: validate, plan (all new, no change, an error on every asset), the saved plan
of all new (`plan --out`: its size against the config's, its time against the plan's), apply
(all new) and import, with peak RSS against the `json.loads` floor of the same data, the
no-change plan against libyaml's bare event parse, and import against the no-change plan of
what it wrote.
Figures and floors are measured back to back, round by round; a ratio is the median of the
rounds' ratios (bench.py's `run` and `ratio`). This process stays small: configs are made and
converted in child processes, so that a child's ru_maxrss is its own.

    python benchmarks/scale.py [--assets 10000] [--repeat 3] [--shapes standard,long,...]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench import PY, child, event_parse, fresh_gallery, gs, ratio, run  # noqa: E402

# The shapes besides generate.py's; ratios to their own floors compare across sizes.
SHAPES = {
    "standard": "generate.py's config: 5 versions, short descriptions, every field",
    "long": "1/4 as many assets, 2,000-character descriptions, 5 versions of 300 characters",
    "versions": "half as many assets, 25 versions each",
    "small": "3x as many assets: a title and one version each",
}

MAKE = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from generate import write_config
shape, n, path = sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])

# A config over 32 MiB is made a folder of parts (gallery.yaml, gallery-2.yaml, ...), as
# import writes one: a single file would pass the 64 MiB per-file cap.
def split(path):
    text = path.read_text()
    if len(text) <= 32 * 2**20:
        return
    head, _, body = text.partition("\nassets:\n")
    assets = ["  asset-" + c for c in body[len("  asset-"):].split("\n  asset-")]
    parts, current, size = [], [], 0
    for chunk in assets:
        if current and size + len(chunk) > 32 * 2**20:
            parts.append(current)
            current, size = [], 0
        current.append(chunk)
        size += len(chunk) + 1
    parts.append(current)
    for i, chunk in enumerate(parts, 1):
        name = path if i == 1 else path.with_name(f"gallery-{i}.yaml")
        name.write_text(head + "\nassets:\n" + "\n".join(chunk).rstrip("\n") + "\n")


if shape == "standard":
    write_config(path, n)
    split(path)
    raise SystemExit
count, versions, note, words = {
    "long": (n // 4, 5, 300, 2000),
    "versions": (n // 2, 25, 0, 0),
    "small": (3 * n, 1, 0, 0),
}[shape]
text = "Lorem ipsum dolor sit amet: consectetur # adipiscing elit, sed do eiusmod. "
out = ["apiVersion: gallery-sync/v1", "publisher:", "  account: acme-ml",
       "  accepted_agreements: [digital-content-publishing, ai-gallery-service]",
       "defaults:", "  region: cn-north-4", "assets:"]
for i in range(count):
    out.append(f"  asset-{i:06d}:")
    out.append(f"    title: Asset {i}")
    if words:
        body = (text * (words // len(text) + 1))[:words]
        lines = [body[k:k + 80].rstrip() for k in range(0, len(body), 80)]
        out.append("    description: |\n" + "\n".join("      " + l for l in lines))
        out.append("    categories: [computer-vision, ocr]\n    visibility: public")
    out.append("    versions:")
    for v in range(versions):
        out.append(f'      - version: "1.{v}.0"')
        out.append(f"        ai_application: model-{i:05d}-v{v}")
        if note:
            out.append(f"        description: {json.dumps((text * 5)[:note].strip())}")
path.write_text("\n".join(out) + "\n")
split(path)
"""

# An unknown category on every asset: plan reports one error per asset, each with its place.
BREAK = r"""
import sys
for name in sys.argv[1:]:
    text = open(name).read()
    open(name, "w").write(text.replace("    categories: [", "    categories: [no-such-one, "))
"""

TO_JSON = r"""
import json, sys, yaml
whole = None
for name in sys.argv[2:]:
    data = yaml.load(open(name, "rb"), Loader=yaml.CSafeLoader)
    if whole is None:
        whole = data
    else:
        whole["assets"].update(data["assets"])
json.dump(whole, open(sys.argv[1], "w"))
"""

CATALOG = r"""
import sys
from gallery_sync.gallery import open_gallery
from gallery_sync.gallery.sqlstore import bump_catalog_version
g = open_gallery(f"sqlite:///{sys.argv[1]}", create=True)
count, versions = int(sys.argv[2]), int(sys.argv[3])
with g.store.transaction() as tx:  # as bench.py's fresh_gallery: the applications' account ''
    tx.db.executemany("INSERT OR IGNORE INTO applications VALUES ('', ?, ?, NULL)",
        [("cn-north-4", f"model-{i:05d}-v{v}") for i in range(count) for v in range(versions)])
    bump_catalog_version(tx.db)
"""


def catalog_gallery(db: Path, shape: str, n: int) -> None:
    """A gallery, no assets, knowing every application the shape's config names."""
    if shape == "standard":
        fresh_gallery(db, n)
        return
    if db.exists():
        db.unlink()
    count, versions = {"long": (n // 4, 5), "versions": (n // 2, 25), "small": (3 * n, 1)}[shape]
    subprocess.run([PY, "-c", CATALOG, str(db), str(count), str(versions)], check=True)


def measure_shape(shape: str, n: int, repeat: int, work: Path) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    folder = work / shape
    folder.mkdir()
    config = folder / "gallery.yaml"
    child(MAKE, str(HERE), shape, str(n), str(config))
    files = sorted(folder.glob("*.yaml"))
    child(TO_JSON, str(work / f"{shape}.json"), *map(str, files))
    size = sum(f.stat().st_size for f in files)
    config = folder  # -f DIR: one file, or the parts of one over 32 MiB
    db = work / f"{shape}.db"
    url = f"sqlite:///{db}"

    def note(name: str, value: str, against: str = "", target: str = "") -> None:
        rows.append((shape, name, value, against, target))
        print(f"  {shape}: {name}: {value} {against} {target}", file=sys.stderr, flush=True)

    json_rss = min(
        run([PY, "-c", f"import json; d = json.load(open({str(work / f'{shape}.json')!r}))"], work)[
            1
        ]
        for _ in range(repeat)
    )
    note(
        "config",
        f"{size / 2**20:.1f} MiB in {len(files)} file(s)",
        f"json.loads of it: {json_rss} MiB",
    )

    def memory(name: str, rss: int) -> None:
        note(f"{name} peak RSS", f"{rss} MiB", f"{rss / json_rss:.2f}x json.loads", "<= 2x")

    # All new: plan, then apply, against a gallery that knows the applications.
    new_plan, new_plan_rss, apply_t, apply_rss = [], 0, [], 0
    saves, save_rss, saved = [], 0, work / "saved.plan"
    for _ in range(repeat):
        catalog_gallery(db, shape, n)
        t, rss = run(gs("plan", "-f", str(config), "--gallery", url), folder)[:2]
        new_plan.append(t)
        new_plan_rss = max(new_plan_rss, rss)
        t, rss = run(gs("plan", "-f", str(config), "--gallery", url, "--out", str(saved)), folder)[
            :2
        ]
        saves.append(t)
        save_rss = max(save_rss, rss)
        t, rss = run(gs("apply", "-f", str(config), "--gallery", url, "--auto-approve"), folder)[:2]
        apply_t.append(t)
        apply_rss = max(apply_rss, rss)
    note("plan, all new", f"{statistics.median(new_plan):.2f} s")
    memory("plan, all new", new_plan_rss)
    note(
        "saved plan (plan --out), all new",
        f"{saved.stat().st_size / 2**20:.1f} MiB, {statistics.median(saves):.2f} s",
        f"{saved.stat().st_size / size:.2f}x the config's size; "
        f"{ratio(saves, new_plan):.2f}x the time of the plan",
        "<= 1.5x; <= 1.2x",
    )
    memory("plan --out, all new", save_rss)
    note("apply, all new", f"{statistics.median(apply_t):.2f} s")
    memory("apply, all new", apply_rss)

    floors, plans, plan_rss, validates, validate_rss = [], [], 0, [], 0
    for _ in range(repeat):
        floors.append(sum(event_parse(f) for f in files))
        t, rss = run(gs("plan", "-f", str(config), "--gallery", url), folder)[:2]
        plans.append(t)
        plan_rss = max(plan_rss, rss)
        t, rss = run(gs("validate", "-f", str(config)), folder)[:2]
        validates.append(t)
        validate_rss = max(validate_rss, rss)
    note("libyaml event parse (floor)", f"{statistics.median(floors):.2f} s")
    note(
        "plan, no change",
        f"{statistics.median(plans):.2f} s",
        f"{ratio(plans, floors):.2f}x event parse",
        "<= 2x",
    )
    memory("plan, no change", plan_rss)
    note("validate", f"{statistics.median(validates):.2f} s")
    memory("validate", validate_rss)

    if shape == "standard":
        child(BREAK, *map(str, files))  # the last use of this config
        errors, error_rss = [], 0
        for _ in range(repeat):
            t, rss = run_failing(gs("plan", "-f", str(config), "--gallery", url), folder)
            errors.append(t)
            error_rss = max(error_rss, rss)
        note("plan, an error on every asset", f"{statistics.median(errors):.2f} s")
        memory("plan, an error on every asset", error_rss)

    imports, replans, import_rss, parts = [], [], 0, 0
    for round_ in range(repeat):
        # A new folder each round, the old ones removed after: deleting thousands of side
        # files just before an import would put the file system's work on the import's time.
        out = work / f"imported-{round_}"
        out.mkdir()
        t, rss = run(gs("import", "--gallery", url, "-o", str(out / "gallery.yaml")), out)[:2]
        imports.append(t)
        import_rss = max(import_rss, rss)
        parts = len(list(out.glob("*.yaml")))
        replan = run(gs("plan", "-f", str(out), "--gallery", url), out, output=True)
        if "No changes." not in replan[2]:  # type: ignore[misc]
            raise SystemExit(f"the import of {shape} does not plan to no changes")
        replans.append(replan[0])
    note(
        "import",
        f"{statistics.median(imports):.2f} s, {parts} file(s)",
        f"{ratio(imports, replans):.2f}x the no-change plan of what it wrote "
        f"({statistics.median(replans):.2f} s), which plans to no changes",
        "<= 1.5x",
    )
    memory("import", import_rss)
    shutil.rmtree(folder, ignore_errors=True)
    for round_ in range(repeat):
        shutil.rmtree(work / f"imported-{round_}", ignore_errors=True)
    return rows


def run_failing(cmd: list[str], cwd: Path) -> tuple[float, int]:
    """`run` for a command that must exit 1 (a plan with errors)."""
    elapsed, rss = run([PY, "-c", EXIT_1_OK, *cmd], cwd)[:2]
    return elapsed, rss


# Runs a command and exits 0 if it exited 1 (and otherwise with its code): `run` accepts 0/2.
# exec keeps one process, so its peak RSS is the command's own.
EXIT_1_OK = r"""
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status = os.waitpid(pid, 0)
code = os.waitstatus_to_exitcode(status)
sys.exit(0 if code == 1 else code or 3)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--assets", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--shapes", default=",".join(SHAPES))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gallery-scale-"))
    rows: list[tuple[str, ...]] = []
    try:
        for shape in args.shapes.split(","):
            print(f"{shape}: {SHAPES[shape]}", file=sys.stderr)
            rows += measure_shape(shape, args.assets, args.repeat, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{args.assets:,} assets (standard shape); medians of {args.repeat} rounds\n")
    print("| shape | figure | median | ratio | target |\n| --- | --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
