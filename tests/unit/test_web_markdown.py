"""Descriptions rendered once per distinct text (by sha256), the least recently used going."""

from __future__ import annotations

from gallery_sync.web.markdown import RenderedCache, render_uncached


def test_a_description_is_rendered_once_and_the_oldest_is_dropped() -> None:
    cache = RenderedCache(size=2)
    assert cache.render("# Title\n\n*x*") == "<h2>Title</h2>\n<p><em>x</em></p>\n"
    cache.render("# Title\n\n*x*")
    assert cache.renders == 1
    cache.render("b")
    cache.render("c")  # drops the first, the least recently used
    cache.render("b")
    assert cache.renders == 3
    cache.render("# Title\n\n*x*")
    assert cache.renders == 4


def test_tables_render_and_images_become_links_fetching_nothing() -> None:
    html = render_uncached("|a|b|\n|-|-|\n|1|2|\n\n![a cat](https://example.org/cat.png)")
    assert "<td>1</td>" in html and "<img" not in html
    assert (
        '<a href="https://example.org/cat.png" rel="noopener noreferrer nofollow">a cat</a>' in html
    )
