"""A branch of a git repository, read through the git command line into a cache of our own.

The repository it is given (a path or a URL) is only ever fetched from: never checked out,
never written. Commits are read into a bare repository under the cache directory and a
commit's tree is exported into a temporary directory with `git archive`.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from gallery_sync.errors import GallerySyncError, UsageError

TIMEOUT = 120.0  # seconds: a fetch that hangs (a dead server, a stuck proxy) is a failure
SHA = re.compile(r"^[0-9a-f]{40}$")


class GitError(GallerySyncError):
    """git failed: the repository is unreachable, the branch is missing, a command timed out."""

    code = "git-error"


def default_cache() -> Path:
    """$XDG_CACHE_HOME/gallery-sync/repos (~/.cache/... without it)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "gallery-sync" / "repos"


def _repo_location(repo: str) -> str:
    """A URL as given; a local path made absolute (the cache never depends on the cwd)."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", repo) or re.match(r"^[^/]+@[^/:]+:", repo):
        return repo
    return str(Path(repo).expanduser().resolve())


class GitMirror:
    """One branch of one repository, fetched into `cache/<hash of the repository>`."""

    def __init__(
        self, repo: str, branch: str, *, cache: Path | None = None, timeout: float = TIMEOUT
    ) -> None:
        if not repo.strip():
            raise UsageError("--repo is empty: give a repository path or URL")
        if repo.startswith("-"):
            raise UsageError(f"--repo {repo!r}: a repository path or URL cannot start with '-'")
        self.source = _repo_location(repo)
        self.branch = branch
        self.timeout = timeout
        key = hashlib.sha256(self.source.encode()).hexdigest()[:16]
        self.directory = (cache or default_cache()) / key
        self._check_branch()

    def _git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "GIT_TERMINAL_PROMPT": "0",  # never wait for a password on a terminal
            "GIT_ASKPASS": "true",
            "GIT_SSH_COMMAND": os.environ.get("GIT_SSH_COMMAND", "ssh -o BatchMode=yes"),
            "LC_ALL": "C",
        }
        command = ["git", "-c", "protocol.ext.allow=never", f"--git-dir={self.directory}", *args]
        try:
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=self.timeout,
                env=env,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise GitError(f"git {args[0]} timed out after {self.timeout:g} s") from None
        except OSError as exc:
            raise GitError(f"cannot run git: {exc.strerror or exc}") from None
        if check and done.returncode != 0:
            raise GitError(f"git {args[0]} failed: {_last_line(done.stderr)}")
        return done

    def _check_branch(self) -> None:
        try:
            done = subprocess.run(
                ["git", "check-ref-format", "--branch", self.branch],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise GitError(f"cannot run git: {exc}") from None
        if done.returncode != 0 or self.branch.startswith("-"):
            raise UsageError(f"--branch {self.branch!r} is not a valid branch name")

    @property
    def ref(self) -> str:
        return f"refs/heads/{self.branch}"

    def tip(self) -> str | None:
        """The branch's commit as last fetched (None before the first fetch)."""
        if not (self.directory / "HEAD").exists():
            return None
        done = self._git("rev-parse", "--verify", "--quiet", f"{self.ref}^{{commit}}", check=False)
        return done.stdout.strip() if done.returncode == 0 else None

    def fetch(self) -> str:
        """Fetch the branch (force: a rewritten branch is taken as it now is); its commit."""
        if not (self.directory / "HEAD").exists():
            self.directory.parent.mkdir(parents=True, exist_ok=True)
            partial = Path(tempfile.mkdtemp(prefix=".init-", dir=self.directory.parent))
            done = subprocess.run(
                ["git", "init", "--quiet", "--bare", str(partial)],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            if done.returncode != 0:
                shutil.rmtree(partial, ignore_errors=True)
                raise GitError(f"cannot create the git cache: {_last_line(done.stderr)}")
            try:
                os.replace(partial, self.directory)  # another process made it first: keep theirs
            except OSError:
                shutil.rmtree(partial, ignore_errors=True)
        self._git(
            "fetch",
            "--quiet",
            "--no-tags",
            "--prune",
            "--end-of-options",
            self.source,
            f"+{self.ref}:{self.ref}",
        )
        sha = self.tip()
        if sha is None:
            raise GitError(f"branch {self.branch!r} has no commit after fetching")
        return sha

    def has(self, sha: str) -> bool:
        return bool(SHA.match(sha)) and (
            self._git("cat-file", "-e", f"{sha}^{{commit}}", check=False).returncode == 0
        )

    def is_ancestor(self, older: str, newer: str) -> bool:
        """Whether `newer` descends from `older` (False: the branch was rewritten)."""
        done = self._git("merge-base", "--is-ancestor", older, newer, check=False)
        if done.returncode not in (0, 1):
            raise GitError(f"git merge-base failed: {_last_line(done.stderr)}")
        return done.returncode == 0

    def export(self, sha: str, into: Path) -> None:
        """Write the tree of commit `sha` into the (empty) directory `into`."""
        if not SHA.match(sha):
            raise GitError(f"not a commit id: {sha!r}")
        archive = subprocess.Popen(
            ["git", f"--git-dir={self.directory}", "archive", "--format=tar", sha],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
        try:
            untar = subprocess.run(
                ["tar", "-x", "--no-same-owner", "-C", str(into), "-f", "-"],
                stdin=archive.stdout,
                capture_output=True,
                timeout=self.timeout,
                check=False,
            )
            if archive.stdout is not None:
                archive.stdout.close()
            archive.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            archive.kill()
            archive.wait()
            raise GitError(f"git archive timed out after {self.timeout:g} s") from None
        finally:
            if archive.stderr is not None:
                errors = archive.stderr.read().decode(errors="replace")
                archive.stderr.close()
            else:
                errors = ""
        if archive.returncode != 0:
            raise GitError(f"git archive failed: {_last_line(errors)}")
        if untar.returncode != 0:
            raise GitError(f"cannot unpack commit {sha[:12]}: {_last_line(untar.stderr.decode())}")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"
