"""Rules shared by every way of changing accounts (the CLI, the hosted pages), so they cannot disagree."""
