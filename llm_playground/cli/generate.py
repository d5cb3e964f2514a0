"""`llmpg` commands for this capability (filled in by its issue)."""
COMMANDS: dict = {}
