"""The daemon: scheduling, alert delivery, the CLI."""
