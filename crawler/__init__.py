"""From the web to a stored, deduplicated, matched story.

- `fetch`: Scrapy's side: the runner, spiders, downloader middlewares, the item pipeline
  and remote workers; it turns responses into items (`items`).
- `parse`: plain functions from bytes to fields: feeds, page extraction, datelines,
  canonical URLs, charsets, listing pages.
- `stories`: the writer: items made candidates, and the decisions: is a candidate new, a
  revision or a copy, which story it joins, how its source is doing.
- `rules`: matching rules (parsed by `presswatch.config.query`) against articles.
- `store`: the SQLite file; the only code that runs SQL, the outbox included.
- `metrics`: the Prometheus counters crawls and deliveries record.
"""
