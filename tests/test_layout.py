"""Telling a listing page from an article: the check that keeps listings out of the archive.

Pages are the KCNA-like ones of tests/layout_site.py, read by the real reader first.
"""

from __future__ import annotations

import pytest

from conftest import article_page
from layout_site import article, body, headline, listing, page
from presswatch.crawler.parse.extract import extract_page
from presswatch.crawler.parse.layout import listing_reason

URL = "http://news.example/en/article/q/1.kcmsf"


def reason(html: str) -> str | None:
    return listing_reason(html.encode(), extract_page(html, URL).text)


def test_a_topic_listing_is_a_listing():
    html = listing([(f"/en/news/{n}.html", n) for n in range(24)])
    assert reason(html) == "looks like a listing, not an article: the texts of 24 links make 95% of its text"


@pytest.mark.parametrize("html", [
    article(3),
    # An article with a long list of other headlines beside it (KCNA frames each story so).
    page(f'<h1 class="article-main-title">{headline(1)}</h1><div class="content-wrapper">{body(1)}</div>'
         '<ul class="article-link">' + "".join(f'<li><a href="/en/article/q/{n}">{headline(n)}</a></li>'
                                             for n in range(40, 52)) + "</ul>"),
    # A short news item whose site menu has many links.
    article_page("Short", ["A short item of two sentences, as wires send when a story breaks: who, "
                           "where and when. More follows within the hour, the agency said on Monday."]).replace(
        "</nav>", "".join(f'<a href="/s/{n}">Section number {n} here</a>' for n in range(30)) + "</nav>"),
])
def test_articles_are_not_listings(html):
    assert reason(html) is None


def test_a_few_links_are_never_a_listing_even_if_they_are_all_the_text():
    html = listing([(f"/en/news/{n}.html", n) for n in range(7)])
    assert listing_reason(html.encode(), " ".join(headline(n) for n in range(7))) is None
