"""`python -m presswatch.scheduler` runs the `presswatch` command."""

from presswatch.scheduler.cli import main

main(prog_name="presswatch")
