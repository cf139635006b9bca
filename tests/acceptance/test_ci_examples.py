"""The CI examples and the pre-commit hook, run for real so that they cannot rot.

The shell steps of examples/ci/*.yml run in order against a real embedded gallery (steps that
`uses:` an action, and `pip install gallery-sync`, are what the CI platform does for us).
The pre-commit hook runs through `pre-commit try-repo` on a throwaway repository.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import APPS, REPO, Workspace, cli_env, copy_example

BIN = str(Path(sys.executable).parent)


def _prepare(ws: Workspace) -> dict[str, str]:
    copy_example(ws)
    url = f"sqlite:///{ws.root / 'ci-gallery.db'}"
    from gallery_sync.gallery import open_gallery
    from gallery_sync.model import Application

    gallery = open_gallery(url, create=True)
    for name, region, image in APPS:
        gallery.add_application(Application(name, region, image))
    gallery.close()
    env = cli_env()
    env.update(
        PATH=f"{BIN}:{env['PATH']}",
        GALLERY_URL=url,
        GALLERY_TOKEN="ci-secret-token",
        GITHUB_OUTPUT=str(ws.root / "github-output"),
        GITHUB_STEP_SUMMARY=str(ws.root / "step-summary.md"),
        GITHUB_SHA="0123abcd",
        CI_COMMIT_SHA="0123abcd",
        NO_COLOR="1",
    )
    return env


def _shell(script: str, ws: Workspace, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    lines = [line for line in script.splitlines() if line.strip() != "pip install gallery-sync"]
    return subprocess.run(
        ["bash", "-eo", "pipefail", "-c", "\n".join(lines)],
        cwd=ws.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def github_job(
    ws: Workspace, env: dict[str, str], job: str
) -> list[subprocess.CompletedProcess[str]]:
    workflow = yaml.safe_load((REPO / "examples" / "ci" / "github-actions.yml").read_text())
    results = []
    for step in workflow["jobs"][job]["steps"]:
        if "run" in step and step["run"].strip() != "pip install gallery-sync":
            results.append(_shell(step["run"], ws, env))
            if results[-1].returncode:
                break
    return results


def test_github_workflow_validate_plan_apply(ws: Workspace) -> None:
    env = _prepare(ws)
    [validate] = github_job(ws, env, "validate")
    assert validate.returncode == 0, validate.stderr
    plan_steps = github_job(ws, env, "plan")
    assert all(r.returncode == 0 for r in plan_steps), plan_steps[-1].stderr
    assert "exitcode=2" in (ws.root / "github-output").read_text()
    summary = (ws.root / "step-summary.md").read_text()
    assert summary.startswith("### gallery-sync plan: 3 to create")
    assert "ci-secret-token" not in (ws.root / "gallery.plan").read_text() + summary
    applied = github_job(ws, env, "apply")
    assert all(r.returncode == 0 for r in applied), applied[-1].stdout + applied[-1].stderr
    again = subprocess.run(
        ["gallery-sync", "plan", "--detailed-exitcode"],
        cwd=ws.root,
        env=env,
        capture_output=True,
        text=True,
    )
    assert again.returncode == 0
    history = subprocess.run(
        ["gallery-sync", "history"], cwd=ws.root, env=env, capture_output=True, text=True
    ).stdout
    assert "— 0123abcd" in history


def test_github_workflow_fails_the_check_with_annotations(ws: Workspace) -> None:
    env = _prepare(ws)
    text = (ws.root / "gallery.yaml").read_text().replace('version: "1.0.0"', "version: 1.0")
    (ws.root / "gallery.yaml").write_text(text)
    results = github_job(ws, env, "validate")
    assert results[-1].returncode == 1
    assert results[-1].stdout.startswith("::error file=gallery.yaml,line=25,col=9,title=schema::")


def test_gitlab_pipeline(ws: Workspace) -> None:
    env = _prepare(ws)
    pipeline = yaml.safe_load((REPO / "examples" / "ci" / "gitlab-ci.yml").read_text())
    for job in ("validate", "plan", "apply"):
        spec = pipeline[job]
        script = "\n".join(pipeline["default"]["before_script"] + spec["script"])
        result = _shell(script, ws, env)
        assert result.returncode == 0, (job, result.stdout, result.stderr)
    assert (ws.root / "plan.md").read_text().startswith("### gallery-sync plan: 3 to create")
    assert (
        len(
            subprocess.run(
                ["gallery-sync", "show", "--format", "json"],
                cwd=ws.root,
                env=env,
                capture_output=True,
                text=True,
            ).stdout
        )
        > 100
    )


@pytest.mark.skipif(shutil.which("git") is None, reason="pre-commit needs git")
def test_pre_commit_hook_fails_bad_config_and_passes_good(tmp_path: Path) -> None:
    repo = tmp_path / "publisher-repo"
    repo.mkdir()
    env = cli_env("GIT_")
    env.update(PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"), PATH=f"{BIN}:{env['PATH']}")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    shutil.copy(REPO / "gallery.yaml", repo / "gallery.yaml")
    shutil.copytree(REPO / "covers", repo / "covers")
    shutil.copytree(REPO / "docs", repo / "docs")
    text = (repo / "gallery.yaml").read_text()
    (repo / "gallery.yaml").write_text(
        text.replace("    title: Invoice OCR", "    titel: Invoice OCR")
    )
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)

    def try_repo() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "pre_commit",
                "try-repo",
                str(REPO),
                "gallery-sync-validate",
                "--all-files",
            ],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )

    bad = try_repo()
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "unknown field 'titel' (did you mean 'title'?)" in bad.stdout
    (repo / "gallery.yaml").write_text(text)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    good = try_repo()
    assert good.returncode == 0, good.stdout + good.stderr
    assert "gallery-sync validate" in good.stdout and "Passed" in good.stdout
