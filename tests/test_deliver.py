"""Delivering the outbox through Apprise to a real loopback sink, and writing the messages.

Alerts are queued the way the daemon queues them (a config, `Ingest`, a SQLite file in
tmp_path) and sent with `Delivery.deliver_due`. Retries are driven by the stored
`next_attempt_at`, so tests that need a retry at once use a delivery section whose backoff
is zero: the schema refuses backoffs under a second on purpose, so those settings are a
copy of a validated section with the backoff replaced.
"""

from __future__ import annotations

import asyncio
import html
import random
from datetime import UTC, datetime, timedelta

import pytest
from apprise import NotifyFormat
from apprise.conversion import convert_between
from conftest import Sink

from presswatch.config import Channel, Config, Rule, Source, load_config
from presswatch.config import Delivery as DeliverySettings
from presswatch.crawler.stories.ingest import CONSOLE_CHANNEL, Candidate, Ingest
from presswatch.crawler.store.database import Store
from presswatch.crawler.store.records import OutboxRow, now_iso
from presswatch.scheduler.delivery.deliver import Delivery, backoff_delay, build_channels
from presswatch.scheduler.logs import Redactor
from presswatch.scheduler.delivery.message import MAX_BODY, Style, alert_body, alert_title, render

T0 = datetime(2018, 11, 1, 9, 0, tzinfo=UTC)
HRW_TITLE = "North Korean officials abuse women with impunity, Human Rights Watch says"
HRW_URL = "https://www.nknews.org/2018/11/hrw-report-sexual-violence/"
HRW_TEXT = (
    "Women in North Korea are routinely subjected to sexual abuse by police officers, prison guards "
    "and market inspectors, and have almost nowhere to turn, Human Rights Watch said in a report "
    "published on Thursday. None of the women interviewed had reported the abuse."
)
SOURCE = Source(id="nknews", kind="feed", url="https://www.nknews.org/feed/", name="NK News")
RULE_ID = "hrw-report"
RULE_QUERY = '"Human Rights Watch"'


def make_config(*channels: Channel, rule_channels: tuple[str, ...] | None = None, **delivery) -> Config:
    """One source, one rule sending to `rule_channels` (default: every channel given)."""
    if rule_channels is None:
        rule_channels = tuple(c.id for c in channels)
    rule = Rule(id=RULE_ID, query=RULE_QUERY, channels=rule_channels)
    return Config(sources=(SOURCE,), rules=(rule,), channels=channels, delivery=DeliverySettings(**delivery))


def retry_at_once(config: Config) -> DeliverySettings:
    """The config's delivery section with no wait between tries."""
    return config.delivery.model_copy(update={"backoff": timedelta(0), "max_backoff": timedelta(0)})


@pytest.fixture
def store(tmp_path):
    store = Store(str(tmp_path / "t.db"))
    yield store
    store.close()


def queue_alert(store: Store, config: Config) -> int:
    """Ingest the HRW article as the daemon would; returns its one outbox row's id."""
    store.sync_sources([(s.id, s.kind, s.url, s.name) for s in config.sources])
    ingest = Ingest.from_config(store, config.rules, config.sources)
    result = ingest.ingest(Candidate(source_id="nknews", url=HRW_URL, title=HRW_TITLE, text=HRW_TEXT,
                                     extracted_from="feed", published=T0))
    assert result.alerts_queued == 1
    [row] = store.outbox()
    return row.id


STORIES = [
    ("Seoul urges UN debate after Human Rights Watch report", "seoul-urges-un-debate",
     ("South Korea's foreign ministry asked for a debate at the United Nations on the findings that "
     "Human Rights Watch published this week about officials abusing women.")),
    ("KCNA calls Human Rights Watch testimony a smear", "kcna-calls-testimony-smear",
     ("The state news agency in Pyongyang dismissed the interviews gathered by Human Rights Watch as "
     "fabrications paid for by hostile forces, in a commentary read on radio.")),
    ("Defectors in London recount market inspections", "defectors-london-recount",
     ("Two women now living in New Malden told reporters how market inspectors demanded money and "
     "worse, echoing what Human Rights Watch documented across a hundred interviews.")),
    ("Japanese lawmakers raise abductions alongside abuse findings", "japan-lawmakers-abductions",
     ("A cross-party group in Tokyo tied the long campaign over abducted citizens to the report by "
     "Human Rights Watch, calling for sanctions reviews before the spring session.")),
    ("Rodong Sinmun editorial attacks rights groups", "rodong-editorial-rights-groups",
     ("An unsigned editorial on the second page of the party daily named Human Rights Watch among "
     "organisations it accused of meddling, without addressing any single account.")),
]


def queue_stories(store: Store, config: Config, count: int, first: int = 0) -> list[int]:
    """Ingest `count` different stories of STORIES from `first` (each matching the rule);
    returns the ids of every outbox row."""
    store.sync_sources([(s.id, s.kind, s.url, s.name) for s in config.sources])
    ingest = Ingest.from_config(store, config.rules, config.sources)
    for title, slug, text in STORIES[first:first + count]:
        result = ingest.ingest(Candidate(source_id="nknews", url=f"https://www.nknews.org/2018/11/{slug}/",
                                         title=title, text=text, extracted_from="feed", published=T0))
        assert result.alerts_queued >= 1, title
    return [row.id for row in store.outbox()]


def outbox_row(store: Store, row_id: int) -> OutboxRow:
    [row] = [row for row in store.outbox() if row.id == row_id]
    return row


def deliver(delivery: Delivery, rounds: int = 20) -> int:
    """Run deliver_due until nothing is left pending (or `rounds` runs); returns how many were sent."""
    sent = 0
    for _ in range(rounds):
        sent += asyncio.run(delivery.deliver_due())
        if not delivery.store.outbox("pending"):
            break
    return sent


def sink_channel(sink: Sink, channel_id: str = "analysts") -> Channel:
    return Channel(id=channel_id, url=sink.apprise_url)


# --- sending -------------------------------------------------------------------------------


def test_a_pending_alert_is_delivered_once_with_its_story(store, sink):
    config = make_config(sink_channel(sink))
    row_id = queue_alert(store, config)
    delivery = Delivery(store, build_channels(config.channels), config.delivery)

    assert asyncio.run(delivery.deliver_due()) == 1
    assert asyncio.run(delivery.deliver_due()) == 0

    [message] = sink.messages
    assert message["title"] == f"[presswatch] {RULE_ID}: {HRW_TITLE}"
    body = message["message"]
    assert HRW_TITLE in body
    assert "NK News · 2018-11-01" in body
    assert HRW_URL in body
    assert "«Human Rights Watch»" in body
    assert f"Rule: {RULE_ID}" in body
    row = outbox_row(store, row_id)
    assert (row.state, row.tries, row.last_error) == ("sent", 1, None)
    assert row.sent_at is not None


def test_a_config_from_yaml_delivers_to_its_channel(store, sink, write_config):
    path = write_config({
        "sources": [{"id": "nknews", "kind": "feed", "url": SOURCE.url, "name": "NK News"}],
        "channels": [{"id": "analysts", "url": "${ANALYSTS_URL}"}],
        "rules": [{"id": RULE_ID, "query": RULE_QUERY, "channels": ["analysts"]}],
    })
    config = load_config(path, environ={"ANALYSTS_URL": sink.apprise_url})
    queue_alert(store, config)

    sent = asyncio.run(Delivery(store, build_channels(config.channels), config.delivery).deliver_due())

    assert sent == 1
    assert [m["title"] for m in sink.messages] == [f"[presswatch] {RULE_ID}: {HRW_TITLE}"]


def test_a_sink_failing_twice_gets_the_alert_exactly_once(store, sink):
    config = make_config(sink_channel(sink), max_tries=5)
    row_id = queue_alert(store, config)
    sink.fail_next = 2
    delivery = Delivery(store, build_channels(config.channels), retry_at_once(config))

    assert deliver(delivery) == 1
    assert deliver(delivery) == 0

    assert sink.refused == 2
    assert len(sink.messages) == 1
    row = outbox_row(store, row_id)
    assert (row.state, row.tries, row.last_error) == ("sent", 3, None)


def test_a_failed_alert_waits_for_its_backoff(store, sink):
    config = make_config(sink_channel(sink), backoff="30s", max_backoff="1h")
    row_id = queue_alert(store, config)
    sink.fail_next = 1
    delivery = Delivery(store, build_channels(config.channels), config.delivery)

    before = datetime.now(UTC)
    assert asyncio.run(delivery.deliver_due()) == 0
    after = datetime.now(UTC)
    assert asyncio.run(delivery.deliver_due()) == 0

    assert (sink.refused, sink.messages) == (1, [])
    row = outbox_row(store, row_id)
    assert (row.state, row.tries) == ("pending", 1)
    assert "500" in row.last_error
    assert now_iso(before + timedelta(seconds=30)) <= row.next_attempt_at
    assert row.next_attempt_at <= now_iso(after + timedelta(seconds=33))


def test_an_alert_is_dead_after_max_tries_and_never_sent_again(store, sink):
    config = make_config(sink_channel(sink), max_tries=3)
    row_id = queue_alert(store, config)
    sink.fail_next = 1000
    delivery = Delivery(store, build_channels(config.channels), retry_at_once(config))

    assert deliver(delivery) == 0

    row = outbox_row(store, row_id)
    assert (row.state, row.tries, row.sent_at) == ("dead", 3, None)
    assert "500" in row.last_error
    assert sink.refused == 3
    sink.fail_next = 0
    assert deliver(delivery) == 0
    assert (sink.refused, sink.messages) == (3, [])
    assert outbox_row(store, row_id).state == "dead"


def test_a_channel_missing_from_the_config_is_retried_then_dead(store, sink):
    # The alert was queued for "analysts"; the channel was then removed from the config.
    queued_with = make_config(sink_channel(sink), max_tries=3)
    row_id = queue_alert(store, queued_with)
    running = make_config(max_tries=3)  # no channels at all
    delivery = Delivery(store, build_channels(running.channels), retry_at_once(running))

    assert deliver(delivery) == 0

    row = outbox_row(store, row_id)
    assert (row.state, row.tries) == ("dead", 3)
    assert "'analysts'" in row.last_error
    assert "not in the config" in row.last_error
    assert sink.messages == []


def test_console_alerts_are_printed_not_sent(store, sink):
    config = make_config(sink_channel(sink), rule_channels=())
    row_id = queue_alert(store, config)
    assert outbox_row(store, row_id).channel_id == CONSOLE_CHANNEL
    printed: list[str] = []
    delivery = Delivery(store, build_channels(config.channels), config.delivery, print_alert=printed.append)

    assert asyncio.run(delivery.deliver_due()) == 1
    assert asyncio.run(delivery.deliver_due()) == 0

    [text] = printed
    assert text.startswith(f"[presswatch] {RULE_ID}: {HRW_TITLE}\n")
    assert "«Human Rights Watch»" in text
    assert HRW_URL in text
    assert sink.messages == []
    assert outbox_row(store, row_id).state == "sent"


def test_a_channel_with_one_url_down_is_not_marked_sent(store, sink):
    down = Sink()
    down.fail_next = 1000
    try:
        channel = Channel(id="analysts", urls=(sink.apprise_url, down.apprise_url))
        config = make_config(channel)
        row_id = queue_alert(store, config)
        delivery = Delivery(store, build_channels(config.channels), config.delivery)

        assert asyncio.run(delivery.deliver_due()) == 0
    finally:
        down.close()

    row = outbox_row(store, row_id)
    assert (row.state, row.sent_at) == ("pending", None)
    assert f"127.0.0.1:{down.port}/" in row.last_error
    assert f"127.0.0.1:{sink.port}/" not in row.last_error
    assert "500" in row.last_error
    assert {(r.key, r.state) for r in row.url_results} == {
        (f"json://127.0.0.1:{sink.port}/", "sent"), (f"json://127.0.0.1:{down.port}/", "failed")}
    assert down.refused == 1
    assert len(sink.messages) == 1


def test_a_retry_goes_only_to_the_urls_that_failed(store, sink):
    other = Sink()
    other.fail_next = 1
    try:
        channel = Channel(id="analysts", urls=(sink.apprise_url, other.apprise_url))
        config = make_config(channel)
        settings = config.delivery.model_copy(update={"backoff": timedelta(0), "max_backoff": timedelta(0)})
        row_id = queue_alert(store, config)
        delivery = Delivery(store, build_channels(config.channels), settings)
        assert asyncio.run(delivery.deliver_due()) == 1  # failed once, then sent on the retry
    finally:
        other.close()
    assert outbox_row(store, row_id).state == "sent"
    assert len(sink.messages) == 1 and len(other.messages) == 1 and other.refused == 1


def test_a_secret_in_a_channel_url_stays_out_of_the_stored_error(store, sink, write_config):
    secret = "s3cr3t-token"
    path = write_config({
        "sources": [{"id": "nknews", "kind": "feed", "url": SOURCE.url, "name": "NK News"}],
        "channels": [{"id": "analysts", "url": "${ANALYSTS_URL}"}],
        "rules": [{"id": RULE_ID, "query": RULE_QUERY, "channels": ["analysts"]}],
    })
    config = load_config(path, environ={"ANALYSTS_URL": f"json://alerts:{secret}@127.0.0.1:{sink.port}/"})
    row_id = queue_alert(store, config)
    sink.fail_next = 1
    delivery = Delivery(store, build_channels(config.channels), config.delivery,
                         redact=Redactor(config.secrets))

    asyncio.run(delivery.deliver_due())

    row = outbox_row(store, row_id)
    assert row.state == "pending"
    assert "500" in row.last_error
    assert secret not in row.last_error


# --- backoff -------------------------------------------------------------------------------


def test_backoff_doubles_from_the_first_delay_up_to_the_cap():
    first, cap = timedelta(seconds=30), timedelta(hours=1)
    expected = {1: 30, 2: 60, 3: 120, 4: 240, 7: 1920, 8: 3600, 12: 3600}

    for tries, seconds in expected.items():
        delay = backoff_delay(tries, first, cap)
        assert timedelta(seconds=seconds) <= delay <= timedelta(seconds=seconds * 1.1), tries


def test_backoff_with_jitter_never_exceeds_the_cap(monkeypatch):
    monkeypatch.setattr(random, "uniform", lambda low, high: high)  # jitter at its largest
    cap = timedelta(hours=1)

    assert backoff_delay(20, timedelta(seconds=30), cap) <= cap


@pytest.mark.parametrize("tries", [43, 60, 100])
def test_backoff_of_a_late_try_is_the_cap(tries):
    cap = timedelta(hours=1)

    delay = backoff_delay(tries, timedelta(seconds=30), cap)

    assert delay == cap


def test_backoff_jitter_spreads_retries():
    delays = {backoff_delay(2, timedelta(seconds=30), timedelta(hours=1)) for _ in range(20)}

    assert len(delays) > 1


# --- messages ------------------------------------------------------------------------------


def message_row(**kw) -> OutboxRow:
    fields = dict(
        id=1, kind="alert", story_id=1, rule_id=RULE_ID, channel_id="analysts", state="sending", tries=1,
        next_attempt_at=now_iso(T0), last_error=None, created_at=now_iso(T0), sent_at=None,
        title=HRW_TITLE, url=HRW_URL, outlet="NK News", published_at=now_iso(T0),
        first_seen_at=now_iso(T0 + timedelta(hours=2)), terms=("Human Rights Watch", "women"),
        snippet="…nowhere to turn, «Human Rights Watch» said…", article_count=3,
    )
    return OutboxRow(**{**fields, **kw})


def test_a_message_has_headline_outlet_date_link_snippet_and_rule():
    body = alert_body(message_row())

    assert body.splitlines() == [
        HRW_TITLE,
        "NK News · 2018-11-01",
        HRW_URL,
        "",
        "…nowhere to turn, «Human Rights Watch» said…",
        "",
        f"Rule: {RULE_ID} (matched: Human Rights Watch, women)",
    ]


def test_a_message_title_is_one_line():
    row = message_row(title="  KCNA slams\nU.S.-backed\r\n smear campaign ")

    assert alert_title(row) == f"[presswatch] {RULE_ID}: KCNA slams U.S.-backed smear campaign"
    assert alert_body(row).splitlines()[0] == "KCNA slams U.S.-backed smear campaign"


def test_a_message_without_publication_date_shows_when_it_was_first_seen():
    body = alert_body(message_row(published_at=None, first_seen_at="2018-11-02T11:00:00+00:00"))

    assert body.splitlines()[1] == "NK News · 2018-11-02"


def snippet_line(body: str) -> str:
    return body.splitlines()[4]


def test_a_long_snippet_is_cut_at_a_word_boundary():
    words = [f"word{i}," if i % 7 == 6 else f"word{i}" for i in range(400)]
    snippet = " ".join(words)
    assert len(snippet) > MAX_BODY

    line = snippet_line(alert_body(message_row(snippet=snippet)))

    assert line.endswith(" …")
    kept = line[: -len(" …")]
    assert len(kept) <= MAX_BODY
    assert snippet.startswith(kept)
    assert snippet[len(kept)] in " ,"  # the last word kept is whole
    assert not kept.endswith((",", " "))
    assert len(kept) > MAX_BODY - 20  # and little more than a word was dropped


def test_a_snippet_that_fits_is_left_whole():
    snippet = "x" * (MAX_BODY - 10) + " «HRW» end"
    assert len(snippet) == MAX_BODY

    assert snippet_line(alert_body(message_row(snippet=snippet))) == snippet


# --- formats, escaping and templates --------------------------------------------------------

HOSTILE = "<script>alert(1)</script> *KCNA* slams _HRW_ [report](http://evil.example/) & co"


def test_a_hostile_title_is_escaped_for_html():
    message = render([message_row(title=HOSTILE, snippet="a <b>bold</b> claim")], Style("html"))

    assert "<script>" not in message.body and "<b>bold</b>" not in message.body
    assert message.body.startswith("<b>&lt;script&gt;alert(1)&lt;/script&gt; *KCNA* slams _HRW_ "
                                   "[report](http://evil.example/) &amp; co</b><br>")
    assert "a &lt;b&gt;bold&lt;/b&gt; claim" in message.body
    assert f'<a href="{HRW_URL}">{HRW_URL}</a>' in message.body
    # Titles are plain text; services that put them into the body get them escaped.
    assert message.title == f"[presswatch] {RULE_ID}: {HOSTILE}"
    assert message.title_markup == f"[presswatch] {RULE_ID}: " + html.escape(HOSTILE)


def test_a_hostile_title_is_escaped_for_markdown():
    message = render([message_row(title=HOSTILE + "\n# not a heading")], Style("markdown"))

    first = message.body.split("\n")[0]
    assert first == (r"**\<script\>alert(1)\</script\> \*KCNA\* slams \_HRW\_ \[report\](http://evil.example/) "
                     r"& co # not a heading**  ")
    # Rendered as Apprise renders Markdown for an HTML service, nothing of it is markup.
    rendered = convert_between(NotifyFormat.MARKDOWN, NotifyFormat.HTML, message.body)
    assert "<script>" not in rendered and "<em>" not in rendered and "evil.example/\"" not in rendered
    assert "&lt;script&gt;alert(1)&lt;/script&gt; *KCNA* slams _HRW_ [report](http://evil.example/)" in rendered


@pytest.mark.parametrize("title, written", [
    ("# Breaking", r"\# Breaking"), ("1. Kim Jong Un", r"1\. Kim Jong Un"), ("- dash", r"\- dash"),
    ("&lt;b&gt; entity", r"\&lt;b\&gt; entity"), ("U.S.-backed 2.5% rise", "U.S.-backed 2.5% rise"),
])
def test_markdown_escapes_what_would_start_a_block_or_name_an_entity(title, written):
    assert render([message_row(title=title)], Style("markdown", body="{title}")).body == written


def test_text_keeps_the_title_as_typed_but_without_control_characters():
    body = alert_body(message_row(title="KCNA \x1b[31mred\x1b[0m <b>"))

    assert body.splitlines()[0] == "KCNA [31mred[0m <b>"


def test_a_non_http_link_is_never_a_link():
    message = render([message_row(url="javascript:alert(1)")], Style("html"))

    assert "href" not in message.body and "javascript:alert(1)" in message.body


def test_templates_fill_escaped_fields():
    style = Style("html", title="{outlet} | {title}", body='<a href="{url}">{title}</a>\n{snippet}\n\n\n\n{terms}')
    row = message_row(title="A <i>b</i>", url="https://x.example/a?b=1&c=\"2\"", snippet="")

    message = render([row], style)

    assert message.title == "NK News | A <i>b</i>"
    assert message.body == ('<a href="https://x.example/a?b=1&amp;c=%222%22">A &lt;i&gt;b&lt;/i&gt;</a>\n\n'
                            "Human Rights Watch, women")


def test_every_template_field_has_a_value():
    from presswatch.config.alerts import TEMPLATE_FIELDS
    from presswatch.scheduler.delivery.message import template_values

    assert set(template_values(message_row(), "text")) == set(TEMPLATE_FIELDS)


def test_a_long_snippet_is_cut_at_a_sentence_with_a_link_to_the_rest():
    sentences = " ".join(f"Sentence number {i} tells of abuse by officials." for i in range(60))

    html_body = render([message_row(snippet=sentences)], Style("html")).body
    markdown_body = render([message_row(snippet=sentences)], Style("markdown")).body

    snippet = html_body.split("<br>\n")[4]
    assert snippet.endswith(f'officials. <a href="{HRW_URL}">… more</a>')
    assert len(snippet) < MAX_BODY + 100
    assert f"officials. [… more]({HRW_URL})" in markdown_body


def test_a_digest_lists_each_story_in_the_channel_format():
    rows = [message_row(id=1, title="First <story>"), message_row(id=2, title="Second", pace="quiet"),
            message_row(id=3, kind="spread", milestone=5, title="Third", pace="quiet")]

    message = render(rows, Style("html"))

    assert message.title == f"[presswatch] 3 alerts: {RULE_ID}"
    lines = message.body.split("<br>\n")
    assert lines[0] == "3 alerts (held over quiet hours):"
    assert lines[2] == "1) <b>First &lt;story&gt;</b>"
    assert lines[3] == f"NK News · 2018-11-01 · rule {RULE_ID} (matched: Human Rights Watch, women)"
    assert lines[4] == f'<a href="{HRW_URL}">{HRW_URL}</a>'
    assert "3) <b>now 5 outlets: Third</b>" in lines


def test_an_html_channel_gets_escaped_html_through_apprise(store, sink):
    channel = Channel(id="analysts", url=sink.apprise_url + "?format=html", format="html")
    config = make_config(channel)
    store.sync_sources([(s.id, s.kind, s.url, s.name) for s in config.sources])
    ingest = Ingest.from_config(store, config.rules, config.sources)
    ingest.ingest(Candidate(source_id="nknews", url=HRW_URL, title=HOSTILE + " Human Rights Watch",
                            text=HRW_TEXT, extracted_from="feed", published=T0))

    assert asyncio.run(Delivery.from_config(store, config).deliver_due()) == 1

    [message] = sink.messages
    assert message["title"] == f"[presswatch] {RULE_ID}: {HOSTILE} Human Rights Watch"
    assert "&lt;script&gt;" in message["message"] and "<script>" not in message["message"]
