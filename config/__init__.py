"""Configuration of presswatch: the schema, its loader and the shipped default.

Load once at start with `load_config` and pass the frozen `Config` down; nothing else
in presswatch reads the environment.
"""

from presswatch.config.duration import format_duration, format_size, parse_duration, parse_size
from presswatch.config.errors import ConfigError, PresswatchError
from presswatch.config.loader import default_config_text, load_config
from presswatch.config.schema import (
    CONSOLE,
    Channel,
    Config,
    Crawl,
    Delivery,
    Events,
    Health,
    Log,
    Rule,
    Source,
    Stories,
    check_apprise_url,
)

__all__ = [
    "CONSOLE",
    "Channel",
    "Config",
    "ConfigError",
    "Crawl",
    "Delivery",
    "Events",
    "Health",
    "Log",
    "PresswatchError",
    "Rule",
    "Source",
    "Stories",
    "check_apprise_url",
    "default_config_text",
    "format_duration",
    "format_size",
    "load_config",
    "parse_duration",
    "parse_size",
]
