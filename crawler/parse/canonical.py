"""Canonical URLs: the key under which an article is deduplicated.

The same article reached through variant URLs (tracking parameters, fragments, AMP and mobile
editions, ``www.`` or not, default ports, redirect links from Google, Bing, Facebook, Yahoo or
DuckDuckGo) must give the same string. ``canonical_url`` prefers the page's own
``rel=canonical``/``og:url`` when it is plausible, then normalises whichever URL it chose.

Two choices: the scheme is kept, so http and https URLs stay distinct (a site rarely serves one
article under both: one redirects to the other, and the crawler keys the URL it ended on), while a
leading ``www.`` is stripped, because feeds, canonical links and shared links disagree on it all
the time.

The result is a *key*, not a link to show: stripping ``www.``/``m.`` and trailing slashes can
produce URLs that some servers do not answer. Callers keep the fetched URL for display.

Google News article links (``news.google.com/rss/articles/CBMi...``, ``/articles/``, ``/read/``,
``/__i/rss/rd/articles/``) carry a base64url protobuf; older ones hold the target URL in clear
(field 4) and are decoded. Newer ones (``AU_yqL...`` inside) carry only an opaque id.

A query that is one bare token (Rodong Sinmun's ``index.php?MTVAMjAx...==``) is kept verbatim,
case and ``=`` padding included; other queries are sorted and their percent-encoding settled.

Pure functions: no network, no Scrapy, no database. Redirect links whose target is not in the URL
(FeedBurner ``~r/`` and ``/~/``, ``t.co``, Google News ``AU_yqL`` ids) are left as they are: only
a fetch could unwrap them, and that is the crawler's job.
"""

from __future__ import annotations

import base64
import re
from functools import lru_cache
from urllib.parse import SplitResult, parse_qsl, unquote, urljoin, urlsplit, urlunsplit

from courlan import extract_domain
from w3lib.url import canonicalize_url

__all__ = ["TRACKING_PARAMS", "TRACKING_PREFIXES", "canonical_url", "is_plausible_canonical", "site_of"]

# Query parameters that only say how a reader arrived, never which article it is. Compared
# lower-cased. Anything not listed here is kept: an unknown parameter may identify the article
# (?id=, ?articleId=, ?aid=, ?newsId=, ?p=, ?story=), and a missed tracker only costs a duplicate
# that near-duplicate detection still catches, while a dropped identifier merges different stories.
TRACKING_PARAMS = frozenset(
    {
        # ad-click identifiers
        "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid",
        "ttclid", "igshid", "igsh", "li_fat_id", "srsltid", "s_kwcid", "ef_id", "gad_source",
        # mailing-list and marketing tools (Mailchimp, HubSpot, Marketo, Vero, Omeda)
        "mc_cid", "mc_eid", "_hsenc", "_hsmi", "mkt_tok", "vero_id", "oly_enc_id", "oly_anon_id",
        # analytics cookies copied into links (Google, AT Internet, Adobe)
        "_ga", "_gl", "xtor", "s_cid", "icid",
        # publishers' own campaign and referrer tags (CNN, Guardian, MSN, NYT, Yahoo, Twitter cards)
        "cmpid", "cmp", "intcmp", "ocid", "ncid", "smid", "smtyp", "partner", "emc", "ref",
        "ref_src", "ref_url", "refsrc", "sr_share", "soc_src", "soc_trk", "guccounter",
        "guce_referrer", "guce_referrer_sig", "spm",
        # Webtrends as used by Zeit Online (?wt_zmc=sm.ext...) and others
        "wt_zmc", "wt_mc",
        # Yonhap and other Korean portals tag feed and portal traffic with ?input=1195m
        "input",
    }
)
TRACKING_PREFIXES = (
    "utm_",  # Google Analytics campaigns
    "at_",  # AT Internet / Piano (BBC's at_medium, at_campaign)
    "ns_",  # comScore (ns_mchannel, ns_source)
    "pk_",  # Matomo / Piwik
    "mtm_",  # Matomo
    "hsa_",  # HubSpot ads
    "wt.",  # Webtrends (WT.mc_id)
)
# Parameters that select the AMP rendering of the same article, and the AMP viewer's own.
_AMP_PARAMS = frozenset({"amp", "_amp", "usqp", "aoh"})
_AMP_VALUED_PARAMS = frozenset({"outputtype", "output"})  # only when the value is "amp"

# Host labels that name an edition of the same site, not a different site.
_VARIANT_LABEL = re.compile(r"(?:www\d*|m\d*|mobile|amp)")  # m2.youm7.com is youm7's mobile site
_GOOGLE_HOST = re.compile(r"(?:www\.)?google\.[a-z]{2,3}(?:\.[a-z]{2})?")
_AMP_CACHE_PATH = re.compile(r"/[cvi]/(s/)?([^/]+)(/.*)?")
_GOOGLE_AMP_PATH = re.compile(r"/amp/(s/)?([^/]+)(/.*)?")
_GOOGLE_NEWS_PATH = re.compile(r"/(?:rss/|__i/rss/rd/)?(?:articles|read)/([A-Za-z0-9_-]+=*)/?")
_YAHOO_PATH = re.compile(r".*/RU=([^/]+)/.*")  # r.search.yahoo.com/_ylt=.../RU=<target>/RK=...
_BING_HOSTS = frozenset({"bing.com", "www.bing.com"})
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
_HTTP_URL = re.compile(r"https?://[^\s\x00-\x1f\x7f]+", re.IGNORECASE)
# A query made of one token and nothing else: kept as written (w3lib would rewrite "==" to "=%3D").
_BARE_TOKEN_QUERY = re.compile(r"[A-Za-z0-9+/_.~-]+=*")
_BLOGGER_HOST = re.compile(r".+\.blogspot\.[a-z.]+")  # Blogger adds ?m=1 for its mobile view
# Files a site serves as its home page; a canonical pointing there is not an article's.
_HOME_PATHS = frozenset({"", "/", "/index.html", "/index.htm", "/index.php", "/default.aspx"})
_MAX_UNWRAP = 3  # a redirect to a redirect to a redirect is enough


def canonical_url(url: str, page_canonical: str | None = None) -> str:
    """Return the deduplication key of the article fetched from ``url``.

    ``page_canonical`` is the page's ``rel=canonical`` or ``og:url`` as found (it may be
    relative); it is used when ``is_plausible_canonical`` accepts it. Raises ValueError when
    ``url`` is not an absolute http(s) URL with a host.
    """
    fetched = _unwrap(_parse(url))
    chosen = fetched
    if page_canonical and is_plausible_canonical(urlunsplit(fetched), page_canonical):
        chosen = _unwrap(_parse(urljoin(urlunsplit(fetched), _clean_text(page_canonical))))
    return _normalise(chosen)


def site_of(url: str) -> str:
    """Return the host of ``url`` without ``www.``/``m.``/``m2.``/``mobile.``/``amp.`` prefixes,
    with its port when it is not the scheme's default (another port is another server).

    Two URLs with the same ``site_of`` are the same outlet. Raises ValueError on invalid URLs.
    """
    return _netloc(_parse(url))


def is_plausible_canonical(url: str, candidate: str) -> bool:
    """Tell whether ``candidate`` (a page's canonical, maybe relative) may replace ``url``.

    It must resolve to an absolute http(s) URL on the same site as ``url`` (subdomains
    allowed) and must not be the site's home page, where some CMSs point every page's
    canonical. Raises ValueError only when ``url`` itself is invalid.
    """
    base = _parse(url)
    try:
        resolved = _parse(urljoin(urlunsplit(base), _clean_text(candidate)))
    except ValueError:
        return False
    if not _same_site(_plain_host(base.hostname), _plain_host(resolved.hostname)):
        return False
    return not _is_home_page(resolved)


# --- parsing and validation ------------------------------------------------------------------


def _clean_text(url: str) -> str:
    """Undo what feeds and HTML attributes leave in links: surrounding space, ``&amp;``."""
    url = url.strip()
    while "&amp;" in url:  # feeds sometimes escape twice: &amp;amp;
        url = url.replace("&amp;", "&")
    return url


def _parse(url: str) -> SplitResult:
    if not isinstance(url, str):
        raise ValueError(f"URL must be a string, not {type(url).__name__}")
    parts = urlsplit(_clean_text(url))
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(f"not an http(s) URL: {url!r}")
    if not parts.hostname:
        raise ValueError(f"URL has no host: {url!r}")
    try:
        parts.port  # noqa: B018 -- urlsplit only validates the port when it is read
    except ValueError as err:
        raise ValueError(f"URL has an invalid port: {url!r}") from err
    return parts


# --- redirect links --------------------------------------------------------------------------


def _unwrap(parts: SplitResult) -> SplitResult:
    """Follow redirect links whose target is written in the URL itself."""
    for _ in range(_MAX_UNWRAP):
        target = _redirect_target(parts)
        if target is None:
            break
        try:
            parts = _parse(target)
        except ValueError:
            break  # a redirector pointing nowhere useful: keep the link as it is
    return parts


def _redirect_target(parts: SplitResult) -> str | None:
    host, path = parts.hostname or "", parts.path
    names = _redirect_params(host, path)
    if names:
        query = _query_dict(parts.query)
        return next((query[n] for n in names if query.get(n, "").startswith("http")), None)
    if host == "news.google.com":
        return _google_news_target(path)
    if host in _BING_HOSTS and path == "/ck/a":
        return _bing_click_target(parts.query)
    if host == "r.search.yahoo.com":
        match = _YAHOO_PATH.fullmatch(path)
        return unquote(match[1]) if match else None
    return _amp_viewer_target(host, parts)


def _query_dict(query: str) -> dict[str, str]:
    return {k.lower(): v for k, v in parse_qsl(query, keep_blank_values=True)}


def _redirect_params(host: str, path: str) -> tuple[str, ...]:
    """Return the query parameters holding the target on known redirectors, or ()."""
    if _GOOGLE_HOST.fullmatch(host) and path == "/url":
        return ("url", "q")  # Google Alerts and search result links
    if host == "news.google.com" and path.endswith("/url"):
        return ("url",)  # older Google News feeds
    if host in ("l.facebook.com", "lm.facebook.com") and path == "/l.php":
        return ("u",)
    if host in ("bing.com", "www.bing.com") and path.lower() == "/news/apiclick.aspx":
        return ("url",)  # Bing News feeds
    if host.endswith(".safelinks.protection.outlook.com"):
        return ("url",)  # links in forwarded Outlook mail
    if host == "duckduckgo.com" and path == "/l/":
        return ("uddg",)
    if host == "slack-redir.net" and path == "/link":
        return ("url",)
    return ()


def _amp_viewer_target(host: str, parts: SplitResult) -> str | None:
    """Unwrap the AMP cache (``*.cdn.ampproject.org/c/s/host/path``) and Google's AMP viewer."""
    if host.endswith(".cdn.ampproject.org"):
        match = _AMP_CACHE_PATH.fullmatch(parts.path)
    elif _GOOGLE_HOST.fullmatch(host):
        match = _GOOGLE_AMP_PATH.fullmatch(parts.path)
    else:
        return None
    if not match or "." not in match[2]:
        return None
    scheme = "https" if match[1] else "http"  # "/s/" marks an https origin
    return urlunsplit((scheme, match[2], match[3] or "/", parts.query, ""))


def _bing_click_target(query: str) -> str | None:
    """Bing result links (``/ck/a?...&u=a1<base64url of the target>``)."""
    value = _query_dict(query).get("u", "")
    data = _b64url_decode(value[2:]) if value.startswith("a1") else None
    return _http_url(data) if data else None


# --- Google News article ids -----------------------------------------------------------------


def _google_news_target(path: str) -> str | None:
    """Return the target written inside a Google News article id, or None.

    The id is a base64url protobuf message. Older ids (``CBMi...``) hold the article URL in
    field 4 (``08 13 22 <varint length> <url>``, often followed by the AMP URL in field 26);
    newer ones hold an opaque ``AU_yqL...`` token there, and ``CAIi...`` ids a binary hash.
    """
    match = _GOOGLE_NEWS_PATH.fullmatch(path)
    data = _b64url_decode(match[1]) if match else None
    if not data:
        return None
    try:
        fields = _protobuf_fields(data)
    except ValueError:
        return None  # truncated or not a protobuf message: not an id we can read
    url_field = next((value for number, value in fields if number == 4), None)
    return _http_url(url_field) if isinstance(url_field, bytes) else None


def _b64url_decode(text: str) -> bytes | None:
    """Decode unpadded base64url, or return None when ``text`` is not base64url."""
    text = text.rstrip("=")
    if not _BASE64URL.fullmatch(text) or len(text) % 4 == 1:
        return None
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:  # binascii.Error; cannot happen after the checks above
        return None


def _protobuf_fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """Read the top-level fields of a protobuf message; ValueError unless it parses exactly."""
    fields, pos = [], 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, pos = _varint(data, pos)
        elif wire_type == 2:  # length-delimited: strings, bytes, nested messages
            size, pos = _varint(data, pos)
            value, pos = data[pos : pos + size], pos + size
            if pos > len(data):
                raise ValueError("field runs past the end of the message")
        else:  # Google News ids use no other wire type
            raise ValueError(f"unexpected wire type {wire_type}")
        fields.append((number, value))
    return fields


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """Read a base-128 varint at ``pos``; return it and the position after it."""
    result = 0
    for shift in range(0, 64, 7):
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
    raise ValueError("varint longer than 64 bits")


def _http_url(data: bytes) -> str | None:
    """Return ``data`` as text when it is one absolute http(s) URL, else None."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if _HTTP_URL.fullmatch(text) else None


# --- hosts and sites -------------------------------------------------------------------------


def _plain_host(host: str | None) -> str:
    """Lower-case ``host`` and strip edition prefixes, never into the registrable domain."""
    host = _idna((host or "").lower().rstrip("."))
    registrable = _registrable(host)
    while True:
        label, _, rest = host.partition(".")
        if not _VARIANT_LABEL.fullmatch(label) or not rest:
            return host
        # "amp.co.kr" is a site of its own: keep a prefix that is part of the registrable name
        if (registrable and len(rest) < len(registrable)) or (not registrable and "." not in rest):
            return host
        host = rest


def _idna(host: str) -> str:
    """Write internationalised hosts in their ASCII form, so both spellings compare equal."""
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


@lru_cache(maxsize=4096)
def _registrable(host: str) -> str | None:
    """Return the registrable domain (eTLD+1) of ``host``, or None for IPs and local names.

    Kept per host: courlan's lookup costs about 40 us, twice for every article's URL, and a
    cycle's articles come from a few hundred hosts."""
    return extract_domain(f"http://{host}/")


def _same_site(host_a: str, host_b: str) -> bool:
    if host_a == host_b:
        return True
    reg_a, reg_b = _registrable(host_a), _registrable(host_b)
    if reg_a and reg_b:
        return reg_a == reg_b
    return host_a.endswith("." + host_b) or host_b.endswith("." + host_a)


def _is_home_page(parts: SplitResult) -> bool:
    path = re.sub(r"/{2,}", "/", parts.path).lower()
    return path in _HOME_PATHS and not _keep_query(parts.query, parts.hostname or "")


# --- normalisation ---------------------------------------------------------------------------


def _normalise(parts: SplitResult) -> str:
    """Build the key: plain host, default port dropped, no AMP, no trackers, sorted query."""
    netloc = _netloc(parts)
    path = _strip_amp_path(re.sub(r"/{2,}", "/", parts.path))
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    query = _keep_query(parts.query, parts.hostname or "")
    if _BARE_TOKEN_QUERY.fullmatch(query):
        base = canonicalize_url(urlunsplit((parts.scheme.lower(), netloc, path or "/", "", "")))
        return f"{base}?{query}"
    # w3lib sorts the query and settles percent-encoding; it keeps utm_*, removed above.
    return canonicalize_url(urlunsplit((parts.scheme.lower(), netloc, path or "/", query, "")))


def _netloc(parts: SplitResult) -> str:
    """Host and non-default port; user info never belongs in a key."""
    host = _plain_host(parts.hostname)
    if ":" in host:
        host = f"[{host}]"  # IPv6 literal
    scheme, port = parts.scheme.lower(), parts.port
    if port is None or (scheme, port) in (("http", 80), ("https", 443)):
        return host
    return f"{host}:{port}"


def _strip_amp_path(path: str) -> str:
    """Drop ``amp`` path segments and ``.amp`` suffixes (``/story.amp``, ``/story.amp.html``)."""
    segments = [s for s in path.split("/") if s.lower() != "amp"]
    last = segments[-1] if segments else ""
    if last.lower().endswith(".amp"):
        segments[-1] = last[: -len(".amp")]
    else:
        stem, dot, ext = last.rpartition(".")
        if dot and stem.lower().endswith(".amp"):
            segments[-1] = f"{stem[: -len('.amp')]}.{ext}"
    return "/".join(segments)


def _keep_query(query: str, host: str) -> str:
    """Remove tracking and AMP parameters, leaving every other pair exactly as written."""
    kept = [pair for pair in query.split("&") if pair and not _is_dropped(pair, host)]
    return "&".join(kept)


def _is_dropped(pair: str, host: str) -> bool:
    name, _, value = pair.partition("=")
    name = unquote(name).lower()
    if name in TRACKING_PARAMS or name.startswith(TRACKING_PREFIXES):
        return True
    if name == "m" and _BLOGGER_HOST.fullmatch(host):
        return True  # Blogger's mobile view: ?m=1 (and ?m=0 for the desktop one)
    if name in _AMP_PARAMS or name.startswith("amp_"):
        return True
    return name in _AMP_VALUED_PARAMS and unquote(value).lower() == "amp"
