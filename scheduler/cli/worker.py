"""`presswatch worker`: fetch and extract for a writer elsewhere, through Redis (RQ).

A worker needs no database and no config file: each job carries its source and the
crawl settings (crawler.fetch.worker). It takes jobs from the queue until stopped (SIGTERM
lets the job in hand finish; a second one ends it), or with --burst until the queue is
empty. Run as many as the machines have cores; the writer is the daemon whose config
sets `workers.redis`.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from urllib.parse import urlsplit

import click

from presswatch.config.errors import PresswatchError
from presswatch.config.schema import REDIS_URL_FORMS, is_redis_url
from presswatch.scheduler.cli.common import load

__all__ = ["worker"]

CONFIG_HELP = ("Config file (YAML) whose workers.redis and workers.queue to use when --redis "
               "and --queue are not given. Default: $PRESSWATCH_CONFIG.")


@click.command()
@click.option("--redis", "redis_url", envvar="PRESSWATCH_REDIS",
              help="Redis URL (redis://host:6379/0). Default: $PRESSWATCH_REDIS, else the config's workers.redis.")
@click.option("--queue", help="Queue name. Default: the config's workers.queue (presswatch).")
@click.option("--burst", is_flag=True, help="Exit once the queue is empty (for batch runs and tests).")
@click.option("--config", "-c", "config_path", envvar="PRESSWATCH_CONFIG",
              type=click.Path(dir_okay=False, path_type=Path), help=CONFIG_HELP)
def worker(redis_url, queue, burst, config_path):
    """Fetch and extract sources' crawls for the writer, taking jobs from Redis.

    Each job is one source's crawl, run in a forked process of its own with the same
    spiders, politeness and extraction as a local crawl; its results go to the Redis
    stream <queue>:results, which the writer (the daemon with workers.redis set) stores.

    \b
    Examples:
      presswatch worker --redis redis://10.0.0.5:6379/0
      presswatch worker --redis redis://127.0.0.1:6379/0 --burst
    """
    # Imported here to keep `presswatch --help` fast: Scrapy and Twisted take about a second.
    from presswatch.crawler.fetch.worker import work
    if not redis_url or not queue:
        config = load(config_path) if (config_path or not redis_url) else None
        redis_url = redis_url or (config.workers.redis if config else "")
        queue = queue or (config.workers.queue if config else "presswatch")
    if not redis_url:
        raise click.UsageError("no Redis to take jobs from: give --redis URL, $PRESSWATCH_REDIS, "
                               "or a config with workers.redis")
    if not is_redis_url(redis_url):
        raise click.BadParameter(f"{_masked(redis_url)} is not a Redis URL: {REDIS_URL_FORMS}", param_hint="--redis")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        work(redis_url, queue, burst=burst)
    except PresswatchError as exc:
        click.echo(f"presswatch: {exc}", err=True)
        sys.exit(1)
    except Exception as exc:  # Redis unreachable, for one
        # Imported here to keep `presswatch --help` fast: redis takes about 60 ms.
        from redis.exceptions import RedisError

        if not isinstance(exc, RedisError):
            raise
        click.echo(f"presswatch: cannot reach Redis at {_masked(redis_url)}: {exc}", err=True)
        sys.exit(1)


def _masked(url: str) -> str:
    """The URL without its password."""

    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":****@", 1)
    return url
