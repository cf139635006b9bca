"""The HTTP client's TLS context: an http:// gallery loads no certificate store."""

from __future__ import annotations

import ssl
from typing import Any

import pytest

from gallery_sync.gallery import http
from gallery_sync.gallery.http import HttpGallery


def test_the_context_of_a_plain_http_gallery_verifies_and_trusts_no_one() -> None:
    context = http._trusting_no_one()
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert context.get_ca_certs() == [] and context.cert_store_stats()["x509"] == 0


@pytest.mark.parametrize(
    ("url", "trusting_no_one"), [("http://127.0.0.1:1", True), ("https://g.example", False)]
)
def test_only_an_http_gallery_skips_the_certificate_store(
    monkeypatch: pytest.MonkeyPatch, url: str, trusting_no_one: bool
) -> None:
    made: list[Any] = []
    original = http._trusting_no_one

    def recorded() -> ssl.SSLContext:
        made.append(original())
        return made[-1]

    monkeypatch.setattr(http, "_trusting_no_one", recorded)
    gallery = HttpGallery(url, token="t")
    try:
        assert bool(made) is trusting_no_one
    finally:
        gallery.close()
