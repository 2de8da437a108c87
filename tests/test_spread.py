"""End to end: a wire story reprinted by five loopback outlets is one story, one alert, one update."""

from __future__ import annotations

import sqlite3

import pytest

from conftest import WebServer, article_page, rss_feed

PARAGRAPHS = [
    "North Korean officials routinely abuse women with impunity, Human Rights Watch said in a report "
    "published on Thursday, describing sexual violence by police officers, prison guards, market "
    "inspectors and soldiers as so common that victims consider it part of ordinary life.",
    "The 86-page report draws on interviews with 54 North Koreans who left the country after 2011, "
    "when Kim Jong Un came to power, and with eight former officials who described how the abuse "
    "goes unpunished.",
    "None of the women interviewed had reported the abuse to the authorities, fearing reprisals and "
    "doubting that anyone would act. Several said officials demanded sex in exchange for letting them "
    "trade in the markets that most families now depend on.",
    "Pyongyang did not respond to requests for comment. North Korea has in the past rejected criticism "
    "of its human rights record as a plot by hostile forces.",
]
HEADLINES = [
    "North Korean officials abuse women with impunity, rights group says",
    "HRW: sexual violence against women rife in North Korea",
    "Rights group says North Korean women face routine sexual abuse",
    "North Korea: women abused by officials, report finds",
    "Report details sexual abuse of women by North Korean officials",
]


@pytest.fixture
def outlets():
    servers = [WebServer() for _ in HEADLINES]
    yield servers
    for server in servers:
        server.close()


def publish(server: WebServer, n: int) -> str:
    """Outlet n's reprint: its own URL scheme, headline and credit line, one paragraph cut."""
    paragraphs = [f"SEOUL (Outlet {n}) -- {PARAGRAPHS[0]}", *PARAGRAPHS[1:3 if n % 2 else 4]]
    path = f"/{['news', 'world/asia', 'article', 'en', 'nk'][n]}/2018/11/{n}{n}{n}-story"
    server.add(path, article_page(HEADLINES[n], paragraphs))
    feed = rss_feed([{"title": HEADLINES[n], "link": server.url(path), "description": PARAGRAPHS[0][:120]}],
                    title=f"Outlet {n}")
    return server.add("/rss.xml", feed, content_type="application/rss+xml")


def test_five_outlets_one_story_one_alert_one_update(outlets, sink, write_config, run_presswatch, tmp_path):
    config = write_config({
        "sources": [{"id": f"outlet{n}", "kind": "feed", "url": publish(server, n), "fetch_articles": True}
                    for n, server in enumerate(outlets)],
        "rules": [{"id": "hrw", "query": '"Human Rights Watch" AND "North Korea"', "channels": ["analysts"]}],
        "channels": [{"id": "analysts", "url": sink.apprise_url}],
        "stories": {"spread_updates": [5]},
    })

    run = run_presswatch("run", "--once", "--config", str(config))
    assert run.returncode == 0, run.stderr

    titles = [m["title"] for m in sink.messages]
    assert len(titles) == 2, titles
    assert titles[0].startswith("[presswatch] hrw: ")
    assert titles[1].startswith("[presswatch] now 5 outlets: ")
    assert "Now carried by 5 outlets: 127.0.0.1:" in sink.messages[1]["message"]
    with sqlite3.connect(tmp_path / "presswatch.db") as db:
        assert db.execute("SELECT count(*), max(outlet_count), max(article_count) FROM stories").fetchone() == (1, 5, 5)

    again = run_presswatch("run", "--once", "--config", str(config))
    assert again.returncode == 0, again.stderr
    assert len(sink.messages) == 2  # nothing is sent twice

    listed = run_presswatch("stories", "--config", str(config), "--since", "1d")
    assert listed.returncode == 0, listed.stderr
    [line] = listed.stdout.splitlines()
    assert "outlets   5  articles   5" in line and "rules hrw" in line

    shown = run_presswatch("story", line.split()[0], "--config", str(config))
    assert shown.returncode == 0, shown.stderr
    assert sum(server.url("/")[:-1].removeprefix("http://") in shown.stdout for server in outlets) == 5
    assert "update at 5 outlets -> analysts: sent" in shown.stdout
    assert "rule hrw -> analysts: sent" in shown.stdout

    missing = run_presswatch("story", "999", "--config", str(config))
    assert missing.returncode == 1 and "no story 999" in missing.stderr


def test_kcna_menu_twins_are_one_story(web, sink, write_config, run_presswatch, tmp_path):
    from test_extract import _kcna_page

    # KCNA files one text under each menu it appears in, each copy with its own URL and
    # its own list of related headlines around it.
    twins = {"Top News": "/en/article/q/" + "a1" * 32 + ".kcmsf",
             "External": "/en/article/q/" + "b2" * 32 + ".kcmsf"}
    menus = []
    for n, (menu, path) in enumerate(twins.items()):
        web.add(path, _kcna_page(menu, ["Kim Jong Un Inspects Farm", "Delegation Leaves"][: n + 1]))
        menus.append(web.add(f"/en/category/{n}.kcmsf", f'<html><body><a href="{path}">Statement</a></body></html>'))
    config = write_config({
        "sources": [{"id": "kcna", "kind": "site", "urls": menus, "follow": "/en/article/"}],
        "rules": [{"id": "kahrs", "query": '"Korea Association for Human Rights Studies"',
                   "channels": ["analysts"]}],
        "channels": [{"id": "analysts", "url": sink.apprise_url}],
    })

    run = run_presswatch("run", "--once", "--config", str(config))
    assert run.returncode == 0, run.stderr

    with sqlite3.connect(tmp_path / "presswatch.db") as db:
        assert db.execute("SELECT count(*) FROM articles").fetchone() == (2,)
        assert db.execute("SELECT count(*), max(article_count), max(outlet_count) FROM stories").fetchone() == (1, 2, 1)
    assert len(sink.messages) == 1
