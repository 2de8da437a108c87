"""From the web to a stored, deduplicated, matched story: spiders, extraction, dedup, matching, the store."""
