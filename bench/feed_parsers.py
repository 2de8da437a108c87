"""What a faster feed parser would cost in what is stored: fastfeedparser beside `parse_feed`, entry by entry.

Usage: python bench/feed_parsers.py [PATH ...] [--show FIELD] [--rounds 3]
(PATH: feed files or folders, searched as bench/corpus_feeds.py does; default
$PRESSWATCH_CORPUS/feeds, else ../shared/corpus/feeds beside the repository.)

fastfeedparser (kagisearch/fastfeedparser: lxml and a native core) is no dependency of
presswatch; install it into the venv that runs this script (`pip install fastfeedparser`).

Prints, on the same bytes:
- CPU seconds (best of --rounds) for all files: `feedparser.parse` without sanitising or
  resolving URIs in content, the feed's URL as its base (as `parse_feed` calls it where a
  feed sets its own base), the whole `parse_feed` (charset check,
  text of each construct, dates), `feedparser.parse` with its defaults (as lemon24/reader
  3.26 calls its vendored copy: sanitising and resolving), and `fastfeedparser.parse`;
- what `FeedEntry` values fastfeedparser's entries would give, made as `parse_feed` makes
  them (`text_of` on each construct, the longest content over the summary, relative links
  resolved against the feed's URL, dates before `EARLIEST` dropped, to the second), against
  `parse_feed`'s own, field by field: how many entries differ in each field, on the feeds
  where both find the same number of entries, and the feeds where the counts differ.
- `parse_feed` joining entries' ids and links to the feed's URL itself, where it gives what
  feedparser would (`_joining`), against feedparser joining every URL of the feed: the files
  whose entries would differ (none, or the shortcut is wrong) and the CPU it saves.
With --show FIELD, the differing values of that field (one in every few) are listed.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urljoin

import feedparser
from feedparser.mixin import _FeedParserMixin
from presswatch.crawler.errors import FetchError
from presswatch.crawler.parse.feeds import EARLIEST, parse_feed, text_of
from corpus_feeds import default_paths, feed_files  # bench/ is on sys.path when run

URL = "http://example.com/feed/"
FIELDS = ("guid", "link", "title", "summary", "published", "authors")


def cpu(parse, bodies: list[bytes], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        for body in bodies:
            try:
                parse(body)
            except Exception:  # noqa: BLE001 - a parser refusing a file still spent its time
                pass
        best = min(best, time.process_time() - start)
    return best


def fast_values(entry) -> dict:
    """A fastfeedparser entry's values as `parse_feed` makes a `FeedEntry`'s."""
    title = entry.get("title", "")
    title = text_of(title, "text/html" if _FeedParserMixin.looks_like_html(title) else "text/plain")
    summary = text_of(entry.get("description", ""))
    if entry.get("content"):
        content = max(entry["content"], key=lambda c: len(c.get("value", "")))
        plain = content.get("type") in ("text", "text/plain")
        summary = text_of(content.get("value", ""), "text/plain" if plain else "text/html") or summary
    return {
        "guid": entry.get("id") or None,
        "link": urljoin(URL, entry["link"]) if entry.get("link") else None,
        "title": title,
        "summary": summary,
        "published": _date(entry.get("published")),
        "authors": tuple(a["name"] for a in entry.get("authors", []) if a.get("name")),
    }


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC).replace(microsecond=0)
    except ValueError:
        return None
    return when if when >= EARLIEST else None


def compare(files: list[Path], show: str | None) -> None:
    import fastfeedparser

    differing: collections.Counter = collections.Counter()
    shown: list[tuple[str, str, str]] = []
    counts, refused, feeds, entries = [], [], 0, 0
    for file in files:
        body = file.read_bytes()
        try:
            ours = parse_feed(body, URL, {"content-type": "application/xml"}).entries
        except FetchError:
            ours = None
        try:
            fast = fastfeedparser.parse(body).entries
        except ValueError:
            fast = None
        if ours is None or fast is None:
            if (ours is None) != (fast is None):
                refused.append((file.name, "refused by parse_feed" if ours is None else "refused by fastfeedparser"))
            continue
        if len(ours) != len(fast):
            counts.append((file.name, len(ours), len(fast)))
            continue
        feeds += 1
        for mine, theirs in zip(ours, fast):
            entries += 1
            values = fast_values(theirs)
            for name in FIELDS:
                if getattr(mine, name) != values[name]:
                    differing[name] += 1
                    if name == show:
                        shown.append((file.name, repr(getattr(mine, name))[:110], repr(values[name])[:110]))
    print(f"\nentries compared: {entries} of {feeds} feeds where both parsers find as many entries")
    print("field        entries differing")
    for name in FIELDS:
        print(f"{name:<12} {differing[name]:>6}  ({differing[name] / max(entries, 1):.1%})")
    print(f"feeds where the entry counts differ (parse_feed, fastfeedparser): {len(counts)}")
    for name, mine, theirs in counts:
        print(f"  {name}: {mine} vs {theirs}")
    print(f"feeds one parser refuses: {len(refused)}")
    for name, who in refused:
        print(f"  {name}: {who}")
    if show:
        print(f"\n{show}: parse_feed | fastfeedparser ({len(shown)} differ; one in {max(1, len(shown) // 30)} shown)")
        for name, mine, theirs in shown[:: max(1, len(shown) // 30)]:
            print(f"  {name}\n    {mine}\n    {theirs}")


def joining(files: list[Path], rounds: int) -> None:
    """`parse_feed` joining ids and links to the feed's URL itself (where `_joining` allows)
    against feedparser joining every URL: the same entries, and what it saves."""
    from presswatch.crawler.parse import feeds

    own = feeds._joining
    bodies = [f.read_bytes() for f in files]
    outputs, spent = {}, {}
    for label, choice in (("feedparser joins", lambda data: None), ("joined here", own)):
        feeds._joining = choice
        try:
            outputs[label] = [_parsed(body) for body in bodies]
            spent[label] = cpu(lambda b: parse_feed(b, URL, {"content-type": "application/xml"}), bodies, rounds)
        finally:
            feeds._joining = own
    here = sum(own(body) is not None for body in bodies)
    differ = sum(a != b for a, b in zip(outputs["feedparser joins"], outputs["joined here"]))
    print(f"\nparse_feed joining ids and links itself: {here} of {len(files)} files; files whose entries differ "
          f"from feedparser joining every URL: {differ}; CPU s {spent['feedparser joins']:.2f} -> "
          f"{spent['joined here']:.2f}")


def _parsed(body: bytes):
    try:
        return parse_feed(body, URL, {"content-type": "application/xml"})
    except FetchError as exc:
        return str(exc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=Path, help="feed files or folders (default: the corpus' feeds)")
    parser.add_argument("--show", choices=FIELDS, help="list the differing values of this field")
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds, the best is printed (default 3)")
    args = parser.parse_args(argv)
    try:
        import fastfeedparser
    except ImportError:
        print("fastfeedparser is not installed here: pip install fastfeedparser (it is no dependency of "
              "presswatch)", file=sys.stderr)
        return 2
    files = feed_files(args.paths or default_paths())
    if not files:
        print("no feed files found", file=sys.stderr)
        return 2
    bodies = [f.read_bytes() for f in files]
    print(f"{len(files)} feed files, {sum(map(len, bodies)) / 1e6:.1f} MB; CPU s for all of them, best of {args.rounds}")
    plain = {"content-type": "application/xml", "content-location": URL}
    for label, parse in (
        ("feedparser.parse, no sanitising, base the feed URL", lambda b: feedparser.parse(
            b, response_headers=plain, sanitize_html=False, resolve_relative_uris=False)),
        ("parse_feed (all of it)", lambda b: parse_feed(b, URL, {"content-type": "application/xml"})),
        ("feedparser.parse with its defaults (reader's)", lambda b: feedparser.parse(b, response_headers=plain)),
        ("fastfeedparser.parse", fastfeedparser.parse),
    ):
        print(f"  {label:<48} {cpu(parse, bodies, args.rounds):6.2f}")
    joining(files, args.rounds)
    compare(files, args.show)
    return 0


if __name__ == "__main__":
    sys.exit(main())
