"""Tests of presswatch.config: the schema, the loader and the shipped default config.

Every config is a real file in tmp_path; the environment is passed in as a dict.
"""

from __future__ import annotations

import functools
import re
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from presswatch.config import (
    Channel,
    Config,
    ConfigError,
    Crawl,
    Delivery,
    Log,
    Rule,
    Source,
    Stories,
    default_config_text,
    format_duration,
    format_size,
    load_config,
    parse_duration,
    parse_size,
)
from presswatch.config.problems import format_path
from presswatch.crawler.rules.match import RuleMatcher

FEED = """
sources:
  - id: hrw
    kind: feed
    url: https://www.hrw.org/rss/news
"""


def write(folder: Path, text: str, name: str = "presswatch.yaml") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(path: Path, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ or {})
    return caught.value.problems


# --- the shipped default ------------------------------------------------------------------


def test_default_config_loads_with_console_only_rules(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config(None, {})
    ids = {source.id: source for source in config.sources}
    assert {"hrw", "kcna", "rodong-sinmun", "daily-nk-ko", "google-news-report-ko"} <= set(ids)
    assert ids["hrw"].fetch_articles and ids["kcna"].follow.startswith("/en/article/detail/")
    assert ids["daily-nk-ko"].language == "ko"
    assert [rule.id for rule in config.rules][:2] == ["hrw-report", "state-media-response"]
    assert config.channels == () and all(rule.channels == () for rule in config.rules)
    assert config.database == Path.cwd() / "presswatch.db"
    assert config.secrets == frozenset()


def test_default_config_text_is_the_loaded_file(tmp_path):
    text = default_config_text()
    assert "${ANALYSTS_APPRISE_URL}" in text  # the commented channel example
    copy = load_config(write(tmp_path, text), {})
    assert copy.model_dump(exclude={"database"}) == load_config(None, {}).model_dump(exclude={"database"})


@functools.lru_cache(maxsize=1)
def _default_rules() -> dict[str, Rule]:
    return {rule.id: rule for rule in load_config(None, {}).rules}


# The wording of the real KCNA statement of 4 November 2018 ("Press Statement of Spokesperson
# of Korean Association for Human Rights Studies", KCNA, as republished on uriminzokkiri.com),
# in short quotes; the sentences around them are written for these tests.
STATEMENT_TITLE = "Press Statement of Spokesperson of Korean Association for Human Rights Studies"
STATEMENT_OPENING = ("Pyongyang, November 4 (KCNA) -- A spokesperson of the Korean Association for Human "
                     "Rights Studies issued the following press statement on Sunday:")
# A KCNA item that names neither HRW nor the association, only their words.
KCNA_RETELLING = ('Pyongyang, November 6 (KCNA) -- The so-called "Report" is nothing but the most despicable '
                  "false document on earth, a patchwork of pointless words made by a handful of human scums.")
MISSION = [
    # (rule, title, text, alerts?)
    ("hrw-report", "", "Human Rights Watch: North Korean women face routine sexual violence", True),
    ("hrw-report", "", "휴먼라이츠워치 \"북한 여성들, 일상적 성폭력에 시달려\"", True),
    ("hrw-report", "", "HRW says North Korean officials commit sexual assaults with impunity", True),
    ("hrw-report", "", "Human Rights Watch criticises Myanmar over sexual violence", False),
    ("state-media-response", STATEMENT_TITLE, STATEMENT_OPENING, True),
    ("state-media-response", "", KCNA_RETELLING, True),
    ("state-media-response", "", 'Pyongyang, November 4 (KCNA) -- The Korea Association for Human Rights Studies '
     'called it "an extremely dangerous provocation".', True),
    ("state-media-response", "", "Pyongyang, October 20 (KCNA) -- The DPRK Association for Human Rights Studies "
     "issued a statement on Thursday.", True),  # its name until 2016
    ("state-media-response", "", 'Pyongyang, November 4 (KCNA) -- It rejects a totally preposterous "Report", the '
     'anti-DPRK "human rights" racket by the hostile forces.', True),
    ("state-media-response", "", "KCNA calls the report a dangerous provocation by human scum", True),
    ("state-media-response", "", "조선중앙통신, 인권 보고서는 도발", True),
    ("state-media-response", "", "조선중앙통신에 따르면 한줌도 안 되는 인간쓰레기들이 만든 보고서라고 비난했다", True),
    # must not alert: KCNA's stock words about other things, and near misses of word forms
    ("state-media-response", "", "KCNA reports on the spring harvest", False),
    ("state-media-response", "", "Pyongyang, November 4 (KCNA) -- The joint air drill of the U.S. and south Korea "
     "is an extremely dangerous provocation.", False),
    ("state-media-response", "", "Pyongyang, November 6 (KCNA) -- Reporters of Rodong Sinmun visited a textile "
     "mill, where the women workers said their human rights are guaranteed.", False),  # report is not reporter
    ("state-media-response", "", "Pyongyang, May 31 (KCNA) -- Human scums who fled to the south scattered "
     "leaflets across the border again, a report said.", False),
    ("state-media-response", "", "Pyongyang, November 6 (KCNA) -- The Korean Association of Social Scientists "
     "held a seminar on human rights.", False),
    ("nk-women-sexual-violence", "", "North Korean women who fled told of rapes by border guards", True),
    ("nk-women-sexual-violence", "", "KCNA says sexual assaults by U.S. soldiers in south Korea go unpunished", False),
]


@pytest.mark.parametrize("rule_id, title, text, expected", MISSION,
                         ids=[f"{r}|{(title or text)[:40]}" for r, title, text, _ in MISSION])
def test_default_rules_catch_the_mission(rule_id, title, text, expected):
    assert bool(RuleMatcher([_default_rules()[rule_id]]).match(title, text)) is expected


def test_every_schema_key_has_help_and_appears_in_the_default():
    from presswatch.config.schema import RuleSurge, Surges, Workers

    text = default_config_text()
    for model in (Config, Crawl, Delivery, Log, Source, Rule, Channel, Workers, Surges, RuleSurge):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"
            assert re.search(rf"\b{name}\b", text), f"{model.__name__}.{name} is not in default.yaml"


# --- minimal config and defaults ------------------------------------------------------------


def test_minimal_config_gets_the_documented_defaults(tmp_path):
    config = load_config(write(tmp_path, FEED), {})
    source = config.sources[0]
    assert (source.name, source.every, source.enabled, source.follow) == ("hrw", timedelta(minutes=30), True, None)
    assert config.crawl.max_response_size == 10_000_000 and config.crawl.timeout == timedelta(seconds=30)
    assert config.delivery.max_backoff == timedelta(hours=1) and config.delivery.max_tries == 60
    assert (config.log.level, config.log.format) == ("info", "text")
    assert re.fullmatch(r"presswatch/\S+ \(\+https://github.com/presswatch/presswatch\)", config.user_agent)
    assert config.rules == () and config.channels == ()


def test_empty_sections_mean_none(tmp_path):
    config = load_config(write(tmp_path, FEED + "channels:\ncrawl:\n"), {})
    assert config.channels == () and config.crawl == Crawl()
    config = load_config(write(tmp_path, FEED + "rules:\n  - id: r\n    query: DPRK\n    channels:\n"), {})
    assert config.rules[0].channels == ()


def test_models_are_frozen(tmp_path):
    config = load_config(write(tmp_path, FEED), {})
    with pytest.raises(ValidationError):
        config.sources[0].every = timedelta(seconds=1)  # type: ignore[misc]
    with pytest.raises(ValidationError):
        config.crawl.retries = 9  # type: ignore[misc]
    assert isinstance(config.sources, tuple)


def test_every_model_forbids_unknown_keys_and_is_frozen():
    for model in (Config, Crawl, Delivery, Log, Stories, Source, Rule, Channel):
        assert issubclass(model, BaseModel)
        assert model.model_config.get("frozen") is True and model.model_config.get("extra") == "forbid"


# --- stories: near duplicates and spread updates -------------------------------------------


def test_stories_defaults(tmp_path):
    stories = load_config(write(tmp_path, FEED), {}).stories
    assert stories == Stories() == load_config(None, {}).stories
    assert (stories.near_duplicate, stories.short_text, stories.window) == (0.6, 0.85, timedelta(days=30))
    assert (stories.permutations, stories.shingle, stories.seed) == (128, 3, 1)
    assert stories.spread_updates == (5, 20)
    assert Stories().model_dump(mode="json")["window"] == "30d"
    assert all(field.description for field in Stories.model_fields.values())


def test_stories_in_a_file(tmp_path):
    text = FEED + "stories:\n  near_duplicate: 1\n  window: 2d12h\n  spread_updates: [2, 3, 50]\n"
    stories = load_config(write(tmp_path, text), {}).stories
    assert (stories.near_duplicate, stories.window) == (1.0, timedelta(hours=60))
    assert stories.spread_updates == (2, 3, 50) and stories.short_text == 0.85
    assert load_config(write(tmp_path, FEED + "stories:\n"), {}).stories == Stories()
    assert load_config(write(tmp_path, FEED + "stories:\n  spread_updates: []\n"), {}).stories.spread_updates == ()


def test_every_stories_mistake_is_reported_with_its_path(tmp_path):
    text = """
    stories:
      near_duplicate: 0
      short_text: yes
      window: 30m
      permutations: 8
      shingle: 9
      seed: -1
      spread_updates: [1, 2.5, many]
    """
    assert problems_of(write(tmp_path, text)) == [
        "stories.near_duplicate: 0 is not a similarity (use a number above 0 and at most 1, such as 0.5)",
        "stories.short_text: true is not a number",
        'stories.window: "30m" is shorter than the minimum of 1h',
        "stories.permutations: 8 is too small (the minimum is 16)",
        "stories.shingle: 9 is too large (the maximum is 8)",
        "stories.seed: -1 is too small (the minimum is 0)",
        "stories.spread_updates[0]: 1 is too small (the minimum is 2)",
        "stories.spread_updates[1]: 2.5 is not a whole number",
        'stories.spread_updates[2]: "many" is not a whole number',
    ]


@pytest.mark.parametrize(
    "written, problem",
    [("[20, 5]", "must be strictly increasing, as in [5, 20]; 5 comes after 20"),
     ("[5, 20, 20]", "must be strictly increasing, as in [5, 20]; 20 comes after 20"),
     ("5", "5 is not a list (write [a, b], or one '- item' a line)")],
)
def test_spread_updates_must_be_an_increasing_list(tmp_path, written, problem):
    path = write(tmp_path, f"stories:\n  spread_updates: {written}\n")
    assert problems_of(path) == [f"stories.spread_updates: {problem}"]


@pytest.mark.parametrize(
    "written, problem",
    [("1.5", "1.5 is not a similarity (use a number above 0 and at most 1, such as 0.5)"),
     ("-0.1", "-0.1 is not a similarity (use a number above 0 and at most 1, such as 0.5)"),
     ("half", '"half" is not a number')],
)
def test_similarities_are_above_0_and_at_most_1(tmp_path, written, problem):
    path = write(tmp_path, f"stories:\n  short_text: {written}\n")
    assert problems_of(path) == [f"stories.short_text: {problem}"]


def test_unknown_stories_key(tmp_path):
    assert problems_of(write(tmp_path, "stories:\n  near_duplicates: 0.6\n  spread: [5]\n  colour: red\n")) == [
        'stories.near_duplicates: unknown key; did you mean "near_duplicate"?',
        'stories.spread: unknown key; did you mean "spread_updates"?',
        f"stories.colour: unknown key (known keys: {', '.join(Stories.model_fields)})",
    ]


def test_stories_built_in_code_are_checked_too():
    with pytest.raises(ValidationError, match="must be strictly increasing"):
        Stories(spread_updates=[20, 5])
    with pytest.raises(ValidationError, match="is not a similarity"):
        Stories(near_duplicate=0)
    assert Stories(spread_updates=[3]).spread_updates == (3,)
    assert hash(Stories()) == hash(Stories())


# --- durations and sizes ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, seconds",
    [("30s", 30), ("15m", 900), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), ("1h 30m", 5400),
     ("1d2h3m4s", 93784), ("90", 90), (45, 45), ("0.5s", 0.5), ("1.5h", 5400), ("2H", 7200)],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["5 minuts", "", "m", "30m1h", "1h1h", "-5", "1w", True, None, [1]])
def test_parse_duration_refuses(text):
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize("seconds, text", [(0, "0s"), (45, "45s"), (900, "15m"), (5400, "1h30m"), (90061, "1d1h1m1s")])
def test_format_duration_reads_back(seconds, text):
    assert format_duration(timedelta(seconds=seconds)) == text
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    "text, size",
    [("10MB", 10_000_000), ("512KB", 512_000), ("1GiB", 1 << 30), ("4KiB", 4096), ("10 mb", 10_000_000),
     ("1.5KiB", 1536), ("2048", 2048), ("100B", 100), (2048, 2048)],
)
def test_parse_size(text, size):
    assert parse_size(text) == size
    assert parse_size(format_size(size)) == size


@pytest.mark.parametrize("text", ["10 lots", "MB", "-1", "1.5.2MB", "", True, 1.5])
def test_parse_size_refuses(text):
    with pytest.raises(ValueError):
        parse_size(text)


def test_durations_and_sizes_in_a_file(tmp_path):
    config = load_config(write(tmp_path, FEED + "    every: 1h30m\ncrawl:\n  max_response_size: 1GiB\n  delay: 2\n"), {})
    assert config.sources[0].every == timedelta(minutes=90)
    assert config.crawl.max_response_size == 1 << 30 and config.crawl.delay == timedelta(seconds=2)
    assert config.model_dump(mode="json")["sources"][0]["every"] == "1h30m"


# --- the environment ----------------------------------------------------------------------


ENV_CONFIG = """
contact: ${CONTACT:-nobody@example.org}
database: ${DB:-pw.db}
sources:
  - id: hrw
    kind: feed
    url: https://www.hrw.org/rss/news
    name: "$${NOT_A_VARIABLE} ${OUTLET}"
channels:
  - id: analysts
    url: ${ANALYSTS_APPRISE_URL}
"""


def test_environment_fills_references(tmp_path):
    environ = {"ANALYSTS_APPRISE_URL": "json://127.0.0.1:8080/", "OUTLET": "HRW", "DB": ""}
    config = load_config(write(tmp_path, ENV_CONFIG), environ)
    assert config.channels[0].apprise_urls == ("json://127.0.0.1:8080/",)
    assert config.contact == "nobody@example.org"  # unset: the default
    assert config.database == tmp_path.resolve() / "pw.db"  # set but empty: the default too
    assert config.sources[0].name == "${NOT_A_VARIABLE} HRW"
    assert config.secrets == frozenset({"json://127.0.0.1:8080/", "HRW"})


def test_environment_value_wins_over_default(tmp_path):
    environ = {"ANALYSTS_APPRISE_URL": "json://127.0.0.1:8080/", "OUTLET": "x", "CONTACT": "ops@example.org"}
    assert load_config(write(tmp_path, ENV_CONFIG), environ).contact == "ops@example.org"


def test_unset_variable_is_one_problem_at_its_path(tmp_path):
    assert problems_of(write(tmp_path, ENV_CONFIG), {"OUTLET": "x"}) == [
        "channels[0] (analysts).url: environment variable ANALYSTS_APPRISE_URL is not set"
    ]


def test_unfinished_reference(tmp_path):
    assert problems_of(write(tmp_path, FEED + "    name: 'a ${broken'\n")) == [
        'sources[0] (hrw).name: "a ${broken" has an unfinished ${...} reference (write $${ for a literal ${)'
    ]


def test_secrets_never_appear_in_problems(tmp_path):
    text = """
    crawl:
      timeout: ${TIMEOUT}
      retries: ${RETRIES}
    sources:
      - id: a
        kind: site
        url: ${SITE_URL}
        follow: ${FOLLOW}
    rules:
      - id: r
        query: ${QUERY}
    channels:
      - id: c
        urls: ["${TOKEN_URL}", "${MAIL_USER}:${MAIL_PASSWORD}@nowhere", "${SCHEME}://host"]
    """
    environ = {
        "TIMEOUT": "soon-s3cret", "RETRIES": "many-s3cret", "SITE_URL": "gopher://hidden-s3cret",
        "FOLLOW": "[z-a]s3cret", "QUERY": "s3cret-word AND", "TOKEN_URL": "foo://T0KEN-s3cret",
        "MAIL_USER": "userxyz", "MAIL_PASSWORD": "pa55word-s3cret", "SCHEME": "schemes3cret",
    }
    problems = problems_of(write(tmp_path, text), environ)
    assert len(problems) == 8
    assert problems[-1] == 'channels[0] (c).urls[2]: Apprise cannot parse this URL (scheme "[secret]://")'
    assert "crawl.timeout: the value from the environment is not a duration" in problems[0]
    for value in environ.values():
        assert all(value not in line for line in problems), value
    # Nor do parts of them quoted by other libraries ("bad character range z-a").
    assert not re.search("s3cret|userxyz|z-a", "\n".join(problems))


# --- many problems at once ------------------------------------------------------------------


MANY_MISTAKES = """
databse: pw.db
crawl:
  timeout: 5 minuts
  retries: -1
  jitter: 0.9
  max_response_size: 10 lots
log:
  level: loud
sources:
  - id: hrw
    kind: feed
    url: https://www.hrw.org/rss/news
    evrey: 15m
  - id: KCNA
    kind: rss
    url: ftp://www.kcna.kp/en
    every: 5s
  - kind: site
    url: http://www.rodong.rep.kp/en/
    follow: '/en/'
    every: 5 minuts
  - just a string
rules:
  - id: hrw-report
    query: '"Human Rights Watch" AND'
    channels: analysts
"""


def test_every_mistake_is_reported_with_its_path(tmp_path):
    assert problems_of(write(tmp_path, MANY_MISTAKES)) == [
        'databse: unknown key; did you mean "database"?',
        'crawl.timeout: "5 minuts" is not a duration (use e.g. 30s, 15m, 2h, 1d)',
        "crawl.retries: -1 is too small (the minimum is 0)",
        'crawl.max_response_size: "10 lots" is not a size (use e.g. 512KB, 10MB, 1GiB)',
        "crawl.jitter: 0.9 is too large (the maximum is 0.5)",
        'log.level: "loud" is not allowed; use "debug", "info", "warning" or "error"',
        'sources[0] (hrw).evrey: unknown key; did you mean "every"?',
        'sources[1].id: "KCNA" is not a valid id (use lowercase letters, digits and -, starting with a letter or digit)',
        'sources[1].kind: "rss" is not allowed; use "feed", "site" or "sitemap"',
        'sources[1].url: "ftp://www.kcna.kp/en" is not an http:// or https:// URL',
        'sources[1].every: "5s" is shorter than the minimum of 10s',
        "sources[2].id: required, but missing",
        'sources[2].every: "5 minuts" is not a duration (use e.g. 30s, 15m, 2h, 1d)',
        'sources[3]: "just a string" is not a group of keys (write key: value lines)',
        "rules[0] (hrw-report).query: '\"Human Rights Watch\" AND' is not a valid query: "
        "column 25: expected a term, got the end of the query",
        "rules[0] (hrw-report).channels: \"analysts\" is not a list (write [a, b], or one '- item' a line)",
    ]


def test_paths_name_each_list_entry_by_its_id(tmp_path):
    text = """
    sources:
      - {id: yonhap-ko, kind: feed, url: "https://yonhap.example/rss", every: 5 minuts}
      - {id: kcna, kind: feed, url: "https://kcna.example/rss", fallback: {kind: site, url: "https://kcna.example/"}}
      - {kind: feed, url: "https://nameless.example/rss", every: 5 minuts}
    rules:
      - {id: ko-violence, query: "성폭력 AND (", channels: [desk, analyst]}
    channels:
      - {id: desk, urls: ["json://127.0.0.1:8080/", "notaservice://x"]}
    """
    assert problems_of(write(tmp_path, text)) == [
        'sources[0] (yonhap-ko).every: "5 minuts" is not a duration (use e.g. 30s, 15m, 2h, 1d)',
        "sources[1] (kcna).fallback.follow: a site source needs follow: a regex matching its article links",
        "sources[2].id: required, but missing",
        'sources[2].every: "5 minuts" is not a duration (use e.g. 30s, 15m, 2h, 1d)',
        'rules[0] (ko-violence).query: "성폭력 AND (" is not a valid query: column 10: expected a term, '
        "got the end of the query",
        'rules[0] (ko-violence).channels[1]: "analyst" is not a channel (defined: desk, console)',
        'channels[0] (desk).urls[1]: Apprise cannot parse this URL (scheme "notaservice://")',
    ]


def test_only_an_id_written_in_the_file_names_an_entry(tmp_path):
    text = """
    sources:
      - {id: "${SOURCE_ID}", kind: feed, url: "https://a.example/rss", every: 5 minuts}
      - {id: Bad Id, kind: feed, url: "https://b.example/rss", every: 5 minuts}
      - {id: 7, kind: feed, url: "https://c.example/rss", every: 5 minuts}
    """
    problems = problems_of(write(tmp_path, text), {"SOURCE_ID": "secret-source"})
    assert [p for p in problems if ".every:" in p] == [
        f'sources[{n}].every: "5 minuts" is not a duration (use e.g. 30s, 15m, 2h, 1d)' for n in range(3)]


def test_format_path_names_entries_at_any_depth():
    config = {"rules": [{"id": "a"}, {"id": "ko-violence", "digest": {"at": ["8", "9"]}}],
              "channels": [{"id": "desk", "urls": [{"url": "x"}, {"id": "pager", "url": "y"}]}]}
    assert format_path(("rules", 1, "digest", "at", 0), config) == "rules[1] (ko-violence).digest.at[0]"
    assert format_path(("channels", 0, "urls", 1, "url"), config) == "channels[0] (desk).urls[1] (pager).url"
    assert format_path(("channels", 0, "urls", 0, "url"), config) == "channels[0] (desk).urls[0].url"
    assert format_path(("rules", 5, "query"), config) == "rules[5].query"
    assert format_path(("rules", 1, "query")) == "rules[1].query"
    assert format_path((), config) == "config"


def test_unknown_key_without_a_close_match_lists_the_keys(tmp_path):
    problems = problems_of(write(tmp_path, "log:\n  colour: red\n"))
    assert problems == ["log.colour: unknown key (known keys: level, format)"]


def test_wrong_types_are_plain_sentences(tmp_path):
    text = FEED + "    enabled: maybe\n    language: no\ncrawl:\n  retries: yes\n  max_articles: 2.5\n"
    assert problems_of(write(tmp_path, text)) == [
        'sources[0] (hrw).enabled: "maybe" is not true or false',
        "sources[0] (hrw).language: false is not text (put it in quotes)",
        "crawl.retries: true is not a whole number",
        "crawl.max_articles: 2.5 is not a whole number",
    ]
    assert not any("Input should" in line or "pydantic" in line for line in problems_of(write(tmp_path, MANY_MISTAKES)))


# --- checks across keys ------------------------------------------------------------------


def test_duplicate_ids(tmp_path):
    text = FEED + """
  - id: hrw
    kind: feed
    url: https://www.hrw.org/rss/other
rules:
  - {id: r, query: DPRK}
  - {id: r, query: KCNA}
channels:
  - {id: c, url: "json://127.0.0.1:8080/"}
  - {id: c, url: "json://127.0.0.1:8081/"}
"""
    assert problems_of(write(tmp_path, text)) == [
        'sources[1] (hrw).id: "hrw" is already the id of sources[0]; ids must be unique',
        'rules[1] (r).id: "r" is already the id of rules[0]; ids must be unique',
        'channels[1] (c).id: "c" is already the id of channels[0]; ids must be unique',
    ]


def test_rule_naming_an_unknown_channel(tmp_path):
    text = FEED + """
rules:
  - {id: r, query: DPRK, channels: [analyst, console, pager]}
channels:
  - {id: analysts, url: "json://127.0.0.1:8080/"}
"""
    assert problems_of(write(tmp_path, text)) == [
        'rules[0] (r).channels[0]: "analyst" is not a channel; did you mean "analysts"?',
        'rules[0] (r).channels[2]: "pager" is not a channel (defined: analysts, console)',
    ]


def test_channel_may_not_be_called_console(tmp_path):
    text = FEED + 'channels:\n  - {id: console, url: "json://127.0.0.1:8080/"}\n'
    assert problems_of(write(tmp_path, text)) == [
        'channels[0] (console).id: "console" is reserved for the built-in console channel; choose another id'
    ]


def test_follow_must_match_the_kind_and_compile(tmp_path):
    text = FEED + """    follow: /news/
  - id: kcna
    kind: site
    url: http://www.kcna.kp/en
  - id: rodong
    kind: site
    url: http://www.rodong.rep.kp/en/
    follow: '/en/[article'
  - id: bad-kind-too
    kind: sitemap
    url: http://example.org/
    follow: '(unclosed'
"""
    assert problems_of(write(tmp_path, text)) == [
        "sources[0] (hrw).follow: only a site source takes follow; a feed lists its own articles",
        "sources[1] (kcna).follow: a site source needs follow: a regex matching its article links",
        'sources[2] (rodong).follow: "/en/[article" is not a valid regular expression: '
        "unterminated character set at position 4",
        'sources[3] (bad-kind-too).follow: "(unclosed" is not a valid regular expression: '
        "missing ), unterminated subpattern at position 0",
    ]


def test_site_source_with_follow_loads(tmp_path):
    text = "sources:\n  - {id: kcna, kind: site, url: 'http://www.kcna.kp/en', follow: '/en/article/', every: 45m}\n"
    source = load_config(write(tmp_path, text), {}).sources[0]
    assert (source.kind, source.follow, source.every) == ("site", "/en/article/", timedelta(minutes=45))


# --- channels and Apprise -----------------------------------------------------------------


def test_apprise_urls_that_apprise_parses_are_accepted(tmp_path):
    text = FEED + """channels:
  - id: sink
    url: json://127.0.0.1:8080/
  - id: mail
    urls:
      - mailto://user:pass@127.0.0.1:2525?to=a@example.org&from=presswatch@example.org
      - mailto://user:pass@localhost:2525?to=a@example.org
"""
    channels = load_config(write(tmp_path, text), {}).channels
    assert channels[0].apprise_urls == ("json://127.0.0.1:8080/",)
    assert len(channels[1].apprise_urls) == 2 and channels[1].url is None


def test_apprise_url_apprise_cannot_parse(tmp_path):
    text = FEED + "channels:\n  - id: c\n    url: notaservice://x-s3cret\n  - id: d\n    urls: [no-scheme-s3cret]\n"
    problems = problems_of(write(tmp_path, text))
    assert problems == [
        'channels[0] (c).url: Apprise cannot parse this URL (scheme "notaservice://")',
        "channels[1] (d).urls[0]: Apprise cannot parse this URL "
        "(it does not start with a scheme such as json:// or mailto://)",
    ]


def test_channel_needs_exactly_one_of_url_and_urls(tmp_path):
    text = FEED + """channels:
  - {id: both, url: "json://127.0.0.1:8080/", urls: ["json://127.0.0.1:8081/"]}
  - {id: neither}
  - {id: empty, urls: []}
"""
    assert problems_of(write(tmp_path, text)) == [
        "channels[0] (both): give either url or urls, not both",
        "channels[1] (neither): needs url (an Apprise URL) or urls (a list of them)",
        "channels[2] (empty): needs url (an Apprise URL) or urls (a list of them)",
    ]


def test_channel_repr_hides_its_urls():
    channel = Channel(id="c", url="json://127.0.0.1:8080/")
    assert "127.0.0.1" not in repr(channel)


# --- the database path --------------------------------------------------------------------


@pytest.mark.parametrize(
    "written, expected",
    [("presswatch.db", "sub/presswatch.db"), ("data/pw.db", "sub/data/pw.db"), ("../pw.db", "sub/../pw.db")],
)
def test_relative_database_is_relative_to_the_config_folder(tmp_path, monkeypatch, written, expected):
    monkeypatch.chdir(write(tmp_path, "", "elsewhere/x").parent)
    path = write(tmp_path, f"database: {written}\n" + FEED, "sub/presswatch.yaml")
    assert load_config(path, {}).database == tmp_path.resolve() / expected


def test_absolute_and_memory_databases_are_kept(tmp_path):
    absolute = tmp_path / "abs" / "pw.db"
    assert load_config(write(tmp_path, f"database: {absolute}\n"), {}).database == absolute
    assert str(load_config(write(tmp_path, "database: ':memory:'\n"), {}).database) == ":memory:"


def test_omitted_database_sits_next_to_the_config(tmp_path):
    path = write(tmp_path, FEED, "cfg/p.yaml")
    assert load_config(path, {}).database == tmp_path.resolve() / "cfg" / "presswatch.db"


# --- files that are not configs -------------------------------------------------------------


def test_yaml_syntax_error_names_line_and_column(tmp_path):
    path = write(tmp_path, "sources:\n  - id: hrw\n    kind: feed\n   url: x\n")
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}: invalid YAML at line 4, column 4: ")


def test_repeated_key_is_an_error(tmp_path):
    path = write(tmp_path, FEED + "    every: 15m\n    every: 1h\n")
    assert problems_of(path) == [f'{path}: invalid YAML at line 7, column 5: the key "every" appears twice']


@pytest.mark.parametrize(
    "text, ending",
    [("", "the file is empty (presswatch init writes a commented example)"),
     ("# only a comment\n", "the file is empty (presswatch init writes a commented example)"),
     ("- a\n- b\n", "the top level must be keys such as sources: and rules:, not a list"),
     ("just words\n", "the top level must be keys such as sources: and rules:, not a single value")],
)
def test_file_that_is_not_a_mapping(tmp_path, text, ending):
    path = write(tmp_path, text)
    assert problems_of(path) == [f"{path}: {ending}"]


def test_missing_file_and_folder(tmp_path):
    assert problems_of(tmp_path / "nope.yaml") == [f"{tmp_path / 'nope.yaml'}: no such file"]
    assert problems_of(tmp_path) == [f"{tmp_path}: is a folder, not a config file"]


# --- building a Config in code ---------------------------------------------------------------


def test_models_built_in_code_are_checked_too():
    with pytest.raises(ValidationError, match="only a site source takes follow"):
        Source(id="a", kind="feed", url="https://example.org/feed", follow="/a/")
    with pytest.raises(ValidationError, match='"nope" is not a channel'):
        Config(rules=[Rule(id="r", query="DPRK", channels=("nope",))])
    rule = Rule(id="r", query="DPRK OR 북한")
    assert Config(rules=[rule]).rules == (rule,)
