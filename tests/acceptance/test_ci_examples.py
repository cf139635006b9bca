"""The CI examples, run as written against a real `serve`, so that they cannot rot.

examples/ci/github-actions.yml runs job by job as a runner would: each `run:` step in bash
(`-eo pipefail`, as GitHub does), the job's `env:` with `${{ vars.* }}`/`${{ secrets.* }}`
filled in, the `if:` of jobs and steps evaluated, and this repository's composite action
(action.yml) expanded into its own steps. What GitHub itself does is stood in for: checkout
and setup-python (the workspace and this interpreter), the sticky PR comment (kept as the
pull request's comment), artifacts (a directory), and `gh api` (the recorded pull request and
its comments, filtered by the real `jq`). The gallery is a real `gallery-sync serve` on a free
127.0.0.1 port, and the tokens are made by `gallery-sync admin token create`.

The pre-commit hook runs through `pre-commit try-repo` on a throwaway repository.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import APPS, REPO, Workspace, cli_env, copy_example
from served import Served, served_fixture, served_pg_fixture  # noqa: F401

BIN = str(Path(sys.executable).parent)
ACTION = "OWNER/gallery-sync@"  # how the examples name this repository's action
INSTALL = 'python3 -m pip install --quiet "$GITHUB_ACTION_PATH"'
PUBLISHER = "acme-ml"  # gallery.yaml's publisher.account
REPOSITORY = "acme-ml/models"
SHA = "0123abcd" * 5
HASH = re.compile(r"[0-9a-f]{64}")

# `gh api PATH --jq FILTER`, answered from the recorded responses, filtered by the real jq.
FAKE_GH = f"""#!{sys.executable}
import json, subprocess, sys
args = sys.argv[1:]
assert args[0] == "api", args
responses = json.load(open({{responses!r}}))
body = json.dumps(responses.get(args[1], []))
if "--jq" in args:
    jq = args[args.index("--jq") + 1]
    sys.exit(subprocess.run(["jq", "-r", jq], input=body, text=True).returncode)
print(body)
"""


@dataclass
class Step:
    name: str
    code: int
    out: str
    err: str


@dataclass
class GitHub:
    """What GitHub holds for one repository: a pull request's comments, its artifacts, the
    outputs and summary of the last job; and what it runs: one job of a workflow."""

    ws: Workspace
    served: Served
    token: str
    pull_request: int | None = 7
    comments: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.artifacts = self.ws.root.parent / "artifacts"
        self.artifacts.mkdir(exist_ok=True)
        self.bin = self.ws.root.parent / "gh-bin"
        self.bin.mkdir(exist_ok=True)
        self.responses = self.ws.root.parent / "gh-responses.json"
        (self.bin / "gh").write_text(FAKE_GH.format(responses=str(self.responses)))
        (self.bin / "gh").chmod(0o755)

    def _record(self) -> None:
        pulls = [{"number": self.pull_request}] if self.pull_request else []
        responses: dict[str, Any] = {f"repos/{REPOSITORY}/commits/{SHA}/pulls": pulls}
        if self.pull_request:
            responses[f"repos/{REPOSITORY}/issues/{self.pull_request}/comments"] = [
                {"body": body} for body in self.comments
            ]
        self.responses.write_text(json.dumps(responses))

    def context(self, event: str) -> dict[str, str]:
        return {
            "github.event_name": event,
            "github.ref": "refs/heads/main" if event == "push" else "refs/pull/7/merge",
            "github.token": "github-token",
            "vars.GALLERY_URL": self.served.url,
            "secrets.GALLERY_TOKEN": self.token,
        }

    def run_job(self, job: str, event: str) -> list[Step] | None:
        """The job's steps in order, up to the first that fails; None if its `if:` skips it."""
        spec = _workflow()["jobs"][job]
        ctx = self.context(event)
        if "if" in spec and not _condition(spec["if"], ctx):
            return None
        self._record()
        (self.ws.root / "github-output").write_text("")
        env = cli_env()
        env.update(
            PATH=f"{self.bin}:{BIN}:{env['PATH']}",
            NO_COLOR="1",
            GITHUB_OUTPUT=str(self.ws.root / "github-output"),
            GITHUB_STEP_SUMMARY=str(self.ws.root / "step-summary.md"),
            GITHUB_SHA=SHA,
            GITHUB_REPOSITORY=REPOSITORY,
            GITHUB_EVENT_NAME=event,
            GITHUB_REF=ctx["github.ref"],
        )
        env.update({k: _fill(str(v), ctx) for k, v in spec.get("env", {}).items()})
        steps: list[Step] = []
        for step in spec["steps"]:
            if "if" in step and not _condition(step["if"], ctx):
                continue
            steps.extend(self._step(step, env, ctx))
            if steps and steps[-1].code:
                break
        return steps

    def _step(self, step: dict[str, Any], env: dict[str, str], ctx: dict[str, str]) -> list[Step]:
        name = step.get("name", step.get("uses", ""))
        if "run" in step:
            return [self._bash(name, _fill(step["run"], ctx), env)]
        uses = step["uses"]
        with_ = step.get("with", {})
        if uses.startswith(("actions/checkout@", "actions/setup-python@")):
            return []  # the workspace holds the checkout; this interpreter is the Python
        if uses.startswith(ACTION):
            return self._action(with_, env)
        if uses.startswith("marocchino/sticky-pull-request-comment@"):
            self.comments = [(self.ws.root / with_["path"]).read_text()]  # sticky: replaced
            return []
        if uses.startswith("actions/upload-artifact@"):
            for path in str(with_["path"]).split():
                shutil.copy(self.ws.root / path, self.artifacts / path)
            return []
        raise AssertionError(f"the example uses an action the test does not know: {uses}")

    def _action(self, with_: dict[str, Any], env: dict[str, str]) -> list[Step]:
        """This repository's composite action, expanded: its install step is the test's own
        install of this checkout (pip already put it in this interpreter's environment)."""
        action = yaml.safe_load((REPO / "action.yml").read_text())
        inputs = {k: str(v.get("default", "")) for k, v in action["inputs"].items()}
        inputs.update({k: str(v) for k, v in with_.items()})
        ctx = {f"inputs.{k}": v for k, v in inputs.items()}
        results = []
        for step in action["runs"]["steps"]:
            if "if" in step and not _condition(step["if"], ctx):
                continue
            if step["run"].strip() == INSTALL:
                continue
            step_env = {**env, "GITHUB_ACTION_PATH": str(REPO)}
            step_env.update({k: _fill(str(v), ctx) for k, v in step.get("env", {}).items()})
            results.append(self._bash(step["name"], step["run"], step_env))
        return results

    def _bash(self, name: str, script: str, env: dict[str, str]) -> Step:
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
            cwd=self.ws.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert "Traceback" not in proc.stderr, proc.stderr
        return Step(name, proc.returncode, proc.stdout, proc.stderr)


def _workflow() -> Any:
    return yaml.safe_load((REPO / "examples" / "ci" / "github-actions.yml").read_text())


def _fill(text: str, ctx: dict[str, str]) -> str:
    """`${{ name }}` replaced as GitHub does, before the shell sees the text."""

    def value(match: re.Match[str]) -> str:
        return ctx[match.group(1).strip()]

    return re.sub(r"\$\{\{(.*?)\}\}", value, text)


def _condition(expression: str, ctx: dict[str, str]) -> bool:
    """The `if:` expressions the examples use: names, '...' strings, ==, !=, &&, ||."""
    tokens = re.findall(r"'[^']*'|==|!=|&&|\|\||[A-Za-z_][\w.]*", expression)
    python = []
    for token in tokens:
        if token.startswith("'") or token in ("==", "!="):
            python.append(token)
        elif token in ("&&", "||"):
            python.append({"&&": "and", "||": "or"}[token])
        else:
            python.append(repr(ctx[token]))
    return bool(eval(" ".join(python), {"__builtins__": {}}))


def _setup(ws: Workspace, served: Served) -> GitHub:
    """A publisher's repository, and the served gallery as its operator and publisher set it
    up: a token for the CI runner and one for the publisher, who registers the applications."""
    copy_example(ws)
    ci_token = _token(ws, served)
    publisher = {"GALLERY_URL": served.url, "GALLERY_TOKEN": _token(ws, served)}
    for name, region, image in APPS:
        args = ["apps", "add", name, "--region", region] + (["--image", image] if image else [])
        added = ws.run(*args, env=publisher)
        assert added.code == 0, added.err
    return GitHub(ws, served, ci_token)


def _token(ws: Workspace, served: Served) -> str:
    """A token of the publisher's account, as the operator makes one: printed alone."""
    made = ws.run("admin", "token", "create", "--account", PUBLISHER, "--store", served.store_url)
    assert made.code == 0, made.err
    assert re.fullmatch(r"gs_[A-Za-z0-9_-]{20,}\n", made.out), made.out
    return made.out.strip()


def _plan_again(ws: Workspace, github: GitHub) -> Any:
    env = {"GALLERY_URL": github.served.url, "GALLERY_TOKEN": github.token}
    return ws.run("plan", "--detailed-exitcode", env=env)


def _pull_request(github: GitHub) -> tuple[list[Step], list[Step]]:
    validate = github.run_job("validate", "pull_request")
    assert validate is not None and [s.code for s in validate] == [0], validate
    plan = github.run_job("plan", "pull_request")
    assert plan is not None and all(s.code == 0 for s in plan), plan[-1].err if plan else plan
    assert github.run_job("apply", "pull_request") is None  # applies on main only
    return validate, plan


@pytest.fixture(params=["sqlite", "postgresql"])
def served_any(request: pytest.FixtureRequest) -> Served:
    server: Served = request.getfixturevalue("served" if request.param == "sqlite" else "served_pg")
    return server


def test_github_pull_request_plans_and_comments_then_main_applies_the_reviewed_plan(
    ws: Workspace, served_any: Served
) -> None:
    github = _setup(ws, served_any)
    _, [plan] = _pull_request(github)
    # annotations: the plan's notice, with the summary and the plan hash a reviewer pins
    notice = [line for line in plan.out.splitlines() if line.startswith("::notice")]
    assert len(notice) == 1 and "3 to create" in notice[0], plan.out
    reviewed = (github.artifacts / "gallery.plan.sha256").read_text().strip()
    assert HASH.fullmatch(reviewed)
    assert f"Plan hash: {reviewed}" in notice[0]
    saved = json.loads((github.artifacts / "gallery.plan").read_text())
    assert saved["plan_hash"] == reviewed and saved["gallery"] == served_any.url
    [comment] = github.comments
    assert comment.startswith("<!-- gallery-sync plan -->\n### gallery-sync plan: 3 to create")
    assert f"`{reviewed}`" in comment
    assert (ws.root / "step-summary.md").read_text().startswith("### gallery-sync plan:")
    assert github.token not in comment + json.dumps(saved) + plan.out + plan.err
    assert _plan_again(ws, github).code == 2  # the pull request wrote nothing

    applied = github.run_job("apply", "push")
    assert applied is not None and [s.code for s in applied] == [0], applied[-1].err
    assert "::warning" not in applied[0].out  # the pinned path, not the unreviewed one
    assert "Apply complete: 3 applied, 0 failed" in applied[0].out, applied[0].out
    assert _plan_again(ws, github).code == 0
    history = ws.run(
        "history",
        "--format",
        "json",
        env={"GALLERY_URL": served_any.url, "GALLERY_TOKEN": github.token},
    )
    entries = history.json()
    assert {e["plan_hash"] for e in entries} == {reviewed}
    assert {e["message"] for e in entries} == {SHA}


def test_github_main_refuses_a_plan_that_moved_since_review(ws: Workspace, served: Served) -> None:
    github = _setup(ws, served)
    _pull_request(github)
    text = (ws.root / "gallery.yaml").read_text()
    (ws.root / "gallery.yaml").write_text(text.replace("title: Invoice OCR", "title: OCR"))
    applied = github.run_job("apply", "push")
    assert applied is not None and applied[-1].code == 1
    assert "plan hash" in applied[-1].err.lower(), applied[-1].err
    assert _plan_again(ws, github).code == 2  # nothing written


def test_github_push_without_a_pull_request_applies_with_a_warning(
    ws: Workspace, served: Served
) -> None:
    github = _setup(ws, served)
    github.pull_request = None
    applied = github.run_job("apply", "push")
    assert applied is not None and [s.code for s in applied] == [0], applied[-1].err
    warnings = [line for line in applied[0].out.splitlines() if line.startswith("::warning")]
    assert warnings == [
        f"::warning title=unreviewed apply::no pull request plan for {SHA}; "
        "applying the plan made now"
    ]
    assert _plan_again(ws, github).code == 0


def test_github_validate_fails_the_check_with_annotations(ws: Workspace, served: Served) -> None:
    github = _setup(ws, served)
    text = (ws.root / "gallery.yaml").read_text().replace('version: "1.0.0"', "version: 1.0")
    (ws.root / "gallery.yaml").write_text(text)
    validate = github.run_job("validate", "pull_request")
    assert validate is not None and validate[-1].code == 1
    assert validate[-1].out.startswith("::error file=gallery.yaml,line=25,col=9,title=schema::")


def test_gitlab_pipeline(ws: Workspace, served: Served) -> None:
    github = _setup(ws, served)
    pipeline = yaml.safe_load((REPO / "examples" / "ci" / "gitlab-ci.yml").read_text())
    install = pipeline["default"]["before_script"]
    assert install[-1] == 'pip install --quiet "$GALLERY_SYNC"'
    assert pipeline["variables"]["GALLERY_SYNC"].startswith("git+https://")
    env = cli_env()
    env.update(
        PATH=f"{BIN}:{env['PATH']}",
        NO_COLOR="1",
        GALLERY_URL=served.url,
        GALLERY_TOKEN=github.token,
        CI_COMMIT_SHA=SHA,
    )
    for job in ("validate", "plan", "apply"):
        proc = subprocess.run(
            ["bash", "-eo", "pipefail", "-c", "\n".join(pipeline[job]["script"])],
            cwd=ws.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, (job, proc.stdout, proc.stderr)
        if job == "plan":
            markdown = (ws.root / "plan.md").read_text()
            assert markdown.startswith("### gallery-sync plan: 3 to create")
            reviewed = (ws.root / "gallery.plan.sha256").read_text().strip()
            assert f"`{reviewed}`" in markdown
    assert _plan_again(ws, github).code == 0


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
