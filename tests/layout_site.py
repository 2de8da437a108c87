"""A KCNA-like site on the loopback server, before and after a redesign.

Modelled on kcna.kp as scrapers of it read it: the listing's article links sit in
`.article-link`, each `<a href="/en/article/q/<hash>.kcmsf">` holding its headline and a
`publish-time` span (GeorgeThomas1863/nork-scraper-1950, src/kcna/articles/articles-urls.js);
the menu is `div.col-md-12.menu-block` of category links, and an article page holds its
headline (`article-main-title`), `publish-time` and body paragraphs (`content-wrapper`), as
in tests/test_extract.py's `_kcna_page`. The texts are made up.
"""

from __future__ import annotations

import random

LISTING = "/en/category/articles/q/5394b80bdae131c1aeb8a63f8e2ea9ab.kcmsf"
FOLLOW = "/en/article/"
WORDS = ("statement delegation ministry spokesman report committee session people army harvest "
         "factory province anniversary talks meeting speech letter visit workers youth").split()

MENU = """<div class="col-md-12 menu-block">
<a href="/en/category/articles/q/1ee9bdb7186944f765208f34ecfb5407.kcmsf">Top News</a>
<a href="/en/category/articles/q/5394b80bdae131c1aeb8a63f8e2ea9ab.kcmsf">Latest News</a>
<a href="/en/category/articles/q/a4e7a40e2a4b5bd1cf79d8a5acb4d92e.kcmsf">External</a>
<a href="/en/category/articles/q/90a1e1b0b6e54a5c3a9d0d6a7f40c1aa.kcmsf">Society-Life</a></div>"""


def headline(n: int) -> str:
    rng = random.Random(n)
    return " ".join(rng.choice(WORDS) for _ in range(6)).capitalize()


def body(n: int) -> str:
    rng = random.Random(1000 + n)
    return "".join(f"<p>{' '.join(rng.choice(WORDS) for _ in range(50)).capitalize()}.</p>" for _ in range(4))


def page(inner: str, title: str = "KCNA") -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>'
            f'<body>{MENU}{inner}<div class="footer">Copyright Korean Central News Agency.</div></body></html>')


def listing(paths: list[tuple[str, int]]) -> str:
    """A category listing: the headlines of (path, n) in `.article-link`, with their dates."""
    items = "".join(f'<li><a href="{path}">{headline(n)}<span class="publish-time">[2024.10.{10 + n % 20}.]</span>'
                    "</a></li>" for path, n in paths)
    return page(f'<div class="topic-title">Latest News</div><ul class="article-link">{items}</ul>')


def article(n: int) -> str:
    return page(f'<div class="article-wrapper"><h1 class="article-main-title">{headline(n)}</h1>'
                f'<div class="publish-time">[2024.10.15.]</div><div class="content-wrapper">{body(n)}</div></div>',
                title=headline(n))


def article_path(n: int) -> str:
    return f"/en/article/q/{n:064x}.kcmsf"


def serve_articles(web, numbers) -> None:
    """The listing linking to articles `numbers`, each served as an article page."""
    for n in numbers:
        web.add(article_path(n), article(n))
    web.add(LISTING, listing([(article_path(n), n) for n in numbers]))


def serve_moved(web, numbers) -> None:
    """After a redesign: the listing links articles under /en/news/, which `follow` misses."""
    for n in numbers:
        web.add(f"/en/news/{n}.html", article(n))
    web.add(LISTING, listing([(f"/en/news/{n}.html", n) for n in numbers]))


def serve_listings_as_articles(web, numbers) -> None:
    """After a redesign: the article links `follow` keeps now open topic listings."""
    others = [(f"/en/news/{m}.html", m) for m in range(500, 524)]
    for n in numbers:
        web.add(article_path(n), listing(others))
    web.add(LISTING, listing([(article_path(n), n) for n in numbers]))


def site_source(web, **extra) -> dict:
    return {"id": "kcna", "kind": "site", "name": "KCNA", "url": web.url(LISTING), "follow": FOLLOW,
            "language": "en", **extra}
