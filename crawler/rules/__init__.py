"""Matching rules against articles: normalised terms, Korean-aware boundaries, snippets.

The rule language itself (its parser and syntax check) is `presswatch.config.query`: the
config checks every rule's query at load time, and the config layer imports nothing above it.
"""
