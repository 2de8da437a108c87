"""Canonical URLs: the key under which an article is deduplicated.

The same article reached through variant URLs (tracking parameters, fragments, AMP and mobile
editions, ``www.`` or not, default ports, redirect links from Google or Bing) must give the same
string. ``canonical_url`` prefers the page's own ``rel=canonical``/``og:url`` when it is plausible,
then normalises whichever URL it chose.

Two choices: the scheme is kept, so http and https URLs stay distinct (a site rarely serves one
article under both: one redirects to the other, and the crawler keys the URL it ended on), while a
leading ``www.`` is stripped, because feeds, canonical links and shared links disagree on it all
the time.

The result is a *key*, not a link to show: stripping ``www.``/``m.`` and trailing slashes can
produce URLs that some servers do not answer. Callers keep the fetched URL for display.

Pure functions: no network, no Scrapy, no database. Redirect links whose target is not in the URL
(FeedBurner ``~r/``, ``t.co``, Google News ``/rss/articles/CBMi...``) are left as they are: only a
fetch could unwrap them, and that is the crawler's job.
"""

from __future__ import annotations

import re
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
_VARIANT_LABEL = re.compile(r"(?:www\d*|m|mobile|amp)")
_GOOGLE_HOST = re.compile(r"(?:www\.)?google\.[a-z]{2,3}(?:\.[a-z]{2})?")
_AMP_CACHE_PATH = re.compile(r"/[cvi]/(s/)?([^/]+)(/.*)?")
_GOOGLE_AMP_PATH = re.compile(r"/amp/(s/)?([^/]+)(/.*)?")
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
    """Return the host of ``url`` without ``www.``/``m.``/``mobile.``/``amp.`` prefixes.

    Two URLs with the same ``site_of`` are the same outlet. Raises ValueError on invalid URLs.
    """
    return _plain_host(_parse(url).hostname or "")


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
        query = {k.lower(): v for k, v in parse_qsl(parts.query, keep_blank_values=True)}
        return next((query[n] for n in names if query.get(n, "").startswith("http")), None)
    return _amp_viewer_target(host, parts)


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


def _registrable(host: str) -> str | None:
    """Return the registrable domain (eTLD+1) of ``host``, or None for IPs and local names."""
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
    return path in _HOME_PATHS and not _keep_query(parts.query)


# --- normalisation ---------------------------------------------------------------------------


def _normalise(parts: SplitResult) -> str:
    """Build the key: plain host, default port dropped, no AMP, no trackers, sorted query."""
    netloc = _netloc(parts)
    path = _strip_amp_path(re.sub(r"/{2,}", "/", parts.path))
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    query = _keep_query(parts.query)
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


def _keep_query(query: str) -> str:
    """Remove tracking and AMP parameters, leaving every other pair exactly as written."""
    kept = [pair for pair in query.split("&") if pair and not _is_dropped(pair)]
    return "&".join(kept)


def _is_dropped(pair: str) -> bool:
    name, _, value = pair.partition("=")
    name = unquote(name).lower()
    if name in TRACKING_PARAMS or name.startswith(TRACKING_PREFIXES):
        return True
    if name in _AMP_PARAMS or name.startswith("amp_"):
        return True
    return name in _AMP_VALUED_PARAMS and unquote(value).lower() == "amp"
