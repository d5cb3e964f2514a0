"""`llmpg` commands for this capability."""
COMMANDS: dict = {}
