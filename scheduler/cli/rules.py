"""`presswatch rules`: try rules on the stored archive before they go live.

`presswatch rules test RULE --since 30d` runs one rule of the config (enabled or not,
with its synonyms and filters) over the articles stored in that window, as the daemon
would have matched them when each arrived, and prints what it would have alerted: how
many stories and articles, then the first matches. It sends nothing and writes nothing.
`presswatch rules chart RULE --chart FILE.svg` draws what a rule matched over time.
The commands only parse arguments and print; matching is `crawler.rules.match`'s, reading the
archive the store's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from presswatch.config import Rule
from presswatch.config.query import QuerySyntaxError, parse_query
from presswatch.scheduler.cli.common import config_option, load, open_store, parse_since, write_chart
from presswatch.scheduler.delivery.markup import one_line

__all__ = ["report_lines", "rules", "rules_chart", "try_rule"]

DEFAULT_SHOWN = 10


@click.group()
def rules():
    """Try keyword rules on the stored archive, and chart what they matched.

    \b
    Examples:
      presswatch rules test hrw-report --since 30d
      presswatch rules chart hrw-report --since 30d --chart hrw-report.svg
    """


@rules.command("test")
@click.argument("rule_id", required=False, metavar="[RULE]")
@click.option("--config", "-c", "config_path", envvar="PRESSWATCH_CONFIG",
              type=click.Path(dir_okay=False, path_type=Path),
              help="Config file (YAML). Default: $PRESSWATCH_CONFIG, else the shipped mission config.")
@click.option("--since", default="30d", show_default=True, help="Articles stored this recently (e.g. 12h, 30d).")
@click.option("--limit", default=DEFAULT_SHOWN, show_default=True, type=click.IntRange(min=0),
              help="Show at most this many matches (all are counted).")
@click.option("--query", "-q", "query", help="Try this query instead of a rule of the config.")
def rules_test(rule_id, config_path, since, limit, query):
    """Run RULE over the articles stored since --since and print what it would have alerted.

    Nothing is sent and nothing is written. A disabled rule can be tried too; --query
    tries a query that is not in the config yet (without synonyms or filters).

    \b
    Examples:
      presswatch rules test hrw-report --since 30d
      presswatch rules test --query '"human scum" NEAR/10 (KCNA OR 로동신문)' --since 7d --limit 20
    """

    config = load(config_path)
    rule = _rule_to_test(config, rule_id, query)
    since_at = datetime.now(UTC) - parse_since(since)
    with open_store(config) as store:
        report = try_rule(rule, store.articles_since(since_at), limit)
    for line in report_lines(report, rule, since):
        click.echo(line)


@rules.command("chart")
@click.argument("rule_id", metavar="RULE")
@config_option
@click.option("--since", default="30d", show_default=True, help="Stories first seen this recently (e.g. 48h, 30d).")
@click.option("--chart", "chart_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The SVG file to write.")
def rules_chart(rule_id, config_path, since, chart_path):
    """Chart what RULE matched since --since: new stories and outlets per hour (per day past
    four days), with the rule's surges and the reactions to its stories marked.

    It reads the stored matches: a rule no longer in the config can be charted too.

    \b
    Example:
      presswatch rules chart hrw-report --since 30d --chart hrw-report.svg
    """
    config = load(config_path)
    since_at = datetime.now(UTC) - parse_since(since)
    with open_store(config) as store:
        if rule_id not in {rule.id for rule in config.rules} and not store.rule_ever_matched(rule_id):
            known = ", ".join(rule.id for rule in config.rules) or "none"
            raise click.ClickException(f'no rule "{rule_id}" in the config or the archive; the config\'s: {known}')
        coverage = store.rule_coverage(rule_id, since_at)
    click.echo(write_chart(coverage, chart_path))


def _rule_to_test(config, rule_id: str | None, query: str | None):
    """The config's rule, enabled for the test, or a rule made of --query."""

    if (rule_id is None) == (query is None):
        raise click.UsageError("give a RULE id or --query, not both" if rule_id else "give a RULE id or --query")
    if query is not None:
        try:
            parse_query(query)
        except QuerySyntaxError as error:
            raise click.BadParameter(str(error), param_hint="--query") from error
        return Rule(id="query", query=query)
    found = {rule.id: rule for rule in config.rules}
    if rule_id not in found:
        known = ", ".join(found) or "none"
        raise click.ClickException(f'no rule "{rule_id}" in the config; its rules: {known}')
    return found[rule_id].model_copy(update={"enabled": True})


def try_rule(rule, articles, limit: int = DEFAULT_SHOWN) -> dict:
    """Match one rule over stored articles, each with the facts it had when it arrived.

    Returns the articles read, the articles and stories matched, and the first `limit`
    matches (the first match of each story, as the one alert the story would have sent).
    """
    # Imported here to keep `presswatch --help` fast: pyahocorasick and the matcher take about 15 ms.
    from presswatch.crawler.rules.match import RuleMatcher

    matcher = RuleMatcher([rule])
    read, matched, stories, shown = 0, 0, set(), []
    for article in articles:
        read += 1
        found = matcher.match(article["title"], article["text"], source=article["source_id"],
                              language=article["language"], outlets=article["outlets"])
        if not found:
            continue
        matched += 1
        if article["story_id"] in stories:
            continue
        stories.add(article["story_id"])
        if len(shown) < limit:
            shown.append((article, found[0]))
    return {"read": read, "articles": matched, "stories": len(stories), "shown": shown}


def report_lines(report: dict, rule, since: str):
    """The test's result, for people."""
    what = f"query {rule.query!r}" if rule.id == "query" else f"rule {rule.id}"
    yield (f"{what}: would have alerted {report['stories']} stor{'y' if report['stories'] == 1 else 'ies'} "
           f"({report['articles']} matching article(s) of {report['read']} stored in the last {since}); "
           "nothing was sent")
    for article, match in report["shown"]:
        date = (article["published_at"] or article["first_seen_at"] or "")[:16].replace("T", " ")
        yield (f"  story {article['story_id']:>6}  {date:<16}  {article['source_id']:<20} "
               f"outlets {article['story_outlets']:>3}  {one_line(article['title'])}")
        yield f"      terms: {one_line(', '.join(match.terms))}"
        yield f"      {one_line(match.snippet)}"
    hidden = report["stories"] - len(report["shown"])
    if hidden > 0:
        yield f"  ... and {hidden} more stor{'y' if hidden == 1 else 'ies'} (--limit to show more)"
