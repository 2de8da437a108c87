"""The daemon: scheduling, alert delivery (`delivery`), the CLI (`cli`), health and metrics."""
