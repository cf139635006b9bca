"""schemathesis against /openapi.json, in-process: no 500, and every error is problem JSON."""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings

from gallery_sync.server.app import create_app

_DIR = Path(tempfile.mkdtemp(prefix="gs-fuzz-"))
APP = create_app(f"sqlite:///{_DIR / 'fuzz.db'}")
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


def problem_json(response: schemathesis.Response) -> None:
    if response.status_code >= 400:
        assert response.headers["content-type"] == ["application/problem+json"], response.text
        body = response.json()
        assert {"type", "title", "status", "detail", "code"} <= set(body), body
        assert body["status"] == response.status_code


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_never_answers_500_and_errors_are_problem_json(case: schemathesis.Case) -> None:
    response = case.call()
    assert response.status_code < 500, response.text
    problem_json(response)
