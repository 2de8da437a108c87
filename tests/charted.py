"""A day of coverage written at known times, for the chart tests (test_coverage, test_serve).

The stories, their copies, the event, the matches, the alerts, the surge and the reaction
are written through the store's own methods with their times given (ingest and the surge
judging stamp the present). The headlines follow
the November 2018 coverage in tests/events_coverage.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from presswatch.crawler.store.database import Store
from presswatch.crawler.store.records import NewArticle, NewMatch, SurgeFigures

T0 = datetime(2018, 11, 1, 9, 5, tzinfo=UTC)  # Human Rights Watch's report is out
RULE = "hrw-report"
REPLY_RULE = "state-media"
CHANNEL = "analysts"
PER = {RULE: "event", REPLY_RULE: "event"}
UPDATES = {(RULE, CHANNEL): (1, None)}

# (minutes after T0, outlet, headline, outlets carrying a copy: (minutes after T0, outlet))
STORIES = (
    (0, "hrw.org", "North Korea: Sexual Abuse of Women by Officials", ((25, "reuters.com"), (70, "aol.com"))),
    (40, "voanews.com", "Rights Group: Sexual Abuse of Women Rampant in North Korea", ()),
    (190, "yna.co.kr", "휴먼라이츠워치 \"북한 여성, 관리들에 성폭력 일상적으로 당해\"", ()),
    (310, "dailynk.com", "HRW report details sexual violence against North Korean women", ((330, "nknews.org"),)),
)
REPLY = (2 * 24 * 60 + 15, "kcna.kp", "KCNA Commentary Slams Anti-DPRK \"Human Rights\" Racket")
# Hourly buckets from 09:00 to 14:00: stories first seen in each, and outlets carrying anything.
HOURLY_STORIES = [2, 0, 0, 1, 0, 1]
HOURLY_OUTLETS = [3, 1, 0, 1, 0, 2]


@dataclass(frozen=True)
class Written:
    event: int
    reply_event: int
    stories: list[int]
    reply: int


def article(outlet: str, title: str, n: int) -> NewArticle:
    url = f"https://{outlet}/news/{n}"
    return NewArticle(source_id=outlet, url=url, url_key=url, canonical_url=url, guid=None, title=title,
                      text=f"{title}. " * 8, published_at=None, date_source=None, language="en", authors=(),
                      content_hash=f"hash-{outlet}-{n}", extracted_from="page", outlet=outlet)


def write_coverage(store: Store) -> Written:
    """The report's event (four stories, one with copies), its alert and updates, a surge of
    the rule while it ran, and KCNA's answer two days later as a reaction to it."""
    store.sync_sources([(o, "feed", f"https://{o}/rss", o) for o in _outlets()])
    event, stories, n = None, [], 0
    with store.transaction():
        for minutes, outlet, title, copies in STORIES:
            at = T0 + timedelta(minutes=minutes)
            n += 1
            article_id, story = store.add_article(article(outlet, title, n), None, at=at)
            if event is None:
                event = store.story_event(story)  # every new story starts an event
            else:
                store.move_story(story, event, at=at)  # as grouping does: the event it leaves is merged
            store.add_event_matches(story, article_id, [NewMatch(RULE, ("Human Rights Watch",), title, (CHANNEL,))],
                                    PER, UPDATES, at=at)
            for copy_minutes, copy_outlet in copies:
                n += 1
                store.add_article(article(copy_outlet, title, n), story, at=T0 + timedelta(minutes=copy_minutes))
            stories.append(story)
        store.refresh_event(event)
        minutes, outlet, title = REPLY
        at = T0 + timedelta(minutes=minutes)
        article_id, reply = store.add_article(article(outlet, title, n + 1), None, at=at)
        reply_event = store.story_event(reply)
        store.add_event_matches(reply, article_id, [NewMatch(REPLY_RULE, ("human rights",), title, (CHANNEL,))],
                                PER, {}, at=at)
        figures = SurgeFigures(RULE, timedelta(hours=6), stories=3, outlets=4, total=40, usual=0.4, expected=0.4,
                               p_value=1e-6)
        surge = store.record_surge(figures, event, (), at=T0 + timedelta(minutes=50))
        store.calm_surge(surge, at=T0 + timedelta(hours=9))
        store.add_reaction(reply, event, REPLY_RULE, ["Human Rights Watch"], 1.0, at=at + timedelta(minutes=3))
    return Written(event, reply_event, stories, reply)


def _outlets() -> set[str]:
    outlets = {REPLY[1]}
    for _, outlet, _, copies in STORIES:
        outlets |= {outlet, *(o for _, o in copies)}
    return outlets
