"""`presswatch sources`: each source's state in one line; `sources test`: one source fetched live, stored nowhere.

`sources test`
prints the links `follow`/`ignore` kept and dropped on each listing page, the first
articles the reader extracted (title, date and where it came from, language, the first
words of the text) and why anything was refused. The crawl itself is crawler.fetch.probe's;
this module runs it on Twisted's asyncio reactor and prints it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from presswatch.scheduler.cli.common import config_option, load, open_store
from presswatch.scheduler.delivery.markup import one_line

SHOWN_LINKS = 40  # links of each kind printed per listing page; the rest are counted
FIRST_WORDS = 30


@click.group(invoke_without_command=True)
@config_option
@click.pass_context
def sources(ctx, config_path):
    """List every source, one line each: state, last success, last error, item counts.

    \b
    States: new (never run), ok, quiet (nothing new for much longer than usual),
    failing (several runs in a row failed), layout (layout changed?: its listing
    answers but no link matches follow, or its article pages have no text or look
    like listings), recovered (works again).
    Example:
      presswatch sources --config presswatch.yaml
      presswatch sources test kcna --limit 3
    """
    ctx.obj = {"config_path": config_path}
    if ctx.invoked_subcommand is not None:
        return
    config = load(config_path)
    with open_store(config) as store:
        states = {state.id: state for state in store.source_states()}
    for source in config.sources:
        click.echo(source_line(source, states.get(source.id)))


def source_line(source, state) -> str:
    if state is None or state.runs == 0:
        return f"{source.id:<24} new        never run"
    error = f"  last error: {state.last_error}" if state.last_error else ""
    if state.state == "layout":
        error = f"  layout changed?: {state.layout_reason}" + error
    if state.fallback_since:
        error = f"  on its fallback since {state.fallback_since}" + error
    return (f"{source.id:<24} {state.state:<10} last success: {state.last_success_at or 'never'}"
            f"  runs: {state.runs}  items: {state.items_seen + state.articles_new}"
            f" (new {state.articles_new})  failures in a row: {state.failures}{error}")


@sources.command("test")
@click.argument("source_id")
@click.option("--config", "-c", "config_path", envvar="PRESSWATCH_CONFIG",
              type=click.Path(dir_okay=False), help="Config file (YAML).")
@click.option("--url", help="Fetch this listing, sitemap or feed URL instead of the source's own.")
@click.option("--limit", default=5, show_default=True, type=click.IntRange(min=1),
              help="Fetch and print at most this many articles.")
@click.pass_context
def sources_test(ctx, source_id, config_path, url, limit):
    """Fetch one source live as the daemon would, and show what it reads; store and send nothing.

    Shows the links follow/ignore kept and dropped, the first articles extracted and why
    anything was refused: how a source is fixed after its site changed (compare scrapy parse).

    \b
    Example:
      presswatch sources test kcna
      presswatch sources test rodong-sinmun --url http://www.rodong.rep.kp/en/ --limit 3
    """

    config_path = config_path or (ctx.obj or {}).get("config_path")
    config = load(Path(config_path) if config_path else None)
    source = next((s for s in config.sources if s.id == source_id), None)
    if source is None:
        known = ", ".join(s.id for s in config.sources) or "none"
        raise click.ClickException(f"no source {source_id!r} in the config (sources: {known})")
    if url is not None and not url.startswith(("http://", "https://")):
        raise click.BadParameter(f"{url!r} is not an http(s) URL", param_hint="--url")
    probe = run_probe(config, source, url, limit)
    for line in probe_lines(probe, source, limit):
        click.echo(line)
    if probe.fetched is None:
        raise SystemExit(1)


def run_probe(config, source, url: str | None, limit: int):
    """Run crawler.fetch.probe's crawl on the asyncio reactor, in this process, once."""
    # Imported here to keep `presswatch --help` fast: Scrapy and Twisted take about a second.
    from scrapy.utils.reactor import install_reactor

    # Imported here to keep `presswatch --help` fast: Scrapy and Twisted take about a second.
    from presswatch.crawler.fetch.probe import probe_source
    from presswatch.crawler.fetch.runner import REACTOR

    install_reactor(REACTOR)
    # Imported here: importing the reactor installs one, and the asyncio reactor must come first.
    from twisted.internet import reactor

    outcome: dict = {}

    async def main() -> None:
        try:
            outcome["probe"] = await probe_source(config, source, url, limit)
        except Exception as exc:  # shown as a sentence below, never a traceback
            outcome["error"] = exc
        finally:
            reactor.stop()

    reactor.callWhenRunning(lambda: asyncio.ensure_future(main()))
    reactor.run(installSignalHandlers=False)
    if "error" in outcome:
        exc = outcome["error"]
        raise click.ClickException(f"the crawl of {source.id} failed: {type(exc).__name__}: {exc}")
    return outcome["probe"]


def probe_lines(probe, source, limit: int):
    yield f"source {source.id} ({source.kind}) {probe.url}"
    fetched = probe.fetched
    if fetched is None:
        reasons = [f.reason for f in probe.failures if f.fatal] or ["no answer"]
        yield f"could not fetch {probe.url}: {reasons[0]}"
    else:
        yield f"fetched: HTTP {fetched.status}" + (f"; {fetched.warning}" if fetched.warning else "")
    for listing in probe.listings:
        yield from _listing_lines(listing)
    if fetched is not None:
        yield from _article_lines(probe.articles, limit)
    problems = [f for f in probe.failures if not f.fatal]
    if problems:
        yield "problems:"
        for failure in problems:
            yield f"  {failure.reason} ({failure.url})"
    yield "nothing was stored and nothing was sent"


def _listing_lines(listing):
    yield (f"listing {listing.url}: {len(listing.kept)} link(s) kept by follow, "
           f"{len(listing.dropped)} dropped")
    for url in listing.kept[:SHOWN_LINKS]:
        yield f"  kept     {url}"
    if len(listing.kept) > SHOWN_LINKS:
        yield f"  ... and {len(listing.kept) - SHOWN_LINKS} more kept"
    for url, why in listing.dropped[:SHOWN_LINKS]:
        yield f"  dropped  {url}  ({why})"
    if len(listing.dropped) > SHOWN_LINKS:
        yield f"  ... and {len(listing.dropped) - SHOWN_LINKS} more dropped"


def _article_lines(articles, limit: int):
    if not articles:
        yield "articles: none read"
        return
    yield f"articles (the first {min(limit, len(articles))}):"
    for n, article in enumerate(articles, 1):
        yield f"  {n}. {article.url}"
        if article.candidate is None:
            yield f"     refused: {article.refused}"
            continue
        found = article.candidate
        yield f"     title: {one_line(found.title) or '(none)'}"
        yield f"     date: {_date(found)}"
        yield f"     language: {found.language or 'unknown'}"
        yield f"     text ({'the page' if found.extracted_from == 'page' else 'the feed'}): {_first_words(found.text)}"
        if found.page_error:
            yield f"     its page: {found.page_error}"


def _date(candidate) -> str:
    if candidate.published is None:
        return "none found (the time it is first seen would be used)"
    where = {"page": "the page", "dateline": "the dateline", "feed": "the feed"}.get(
        candidate.date_source, candidate.date_source or "?")
    return f"{candidate.published.isoformat(timespec='minutes')} (from {where})"


def _first_words(text: str) -> str:
    words = text.split()
    more = " ..." if len(words) > FIRST_WORDS else ""
    return " ".join(words[:FIRST_WORDS]) + more if words else "(empty)"
