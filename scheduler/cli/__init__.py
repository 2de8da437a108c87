"""The `presswatch` command: `main` and one module per command group, sharing `common`.

A thin shell over the library: commands parse arguments, load the config once, and turn
presswatch's errors into plain sentences and exit codes.
"""

from presswatch.scheduler.cli.main import main

__all__ = ["main"]
