"""The writer's side: a candidate becomes a stored article in a story, its matches and alerts.

Deciding (dedup, story, source health) is here; the SQL is the store's.
"""
