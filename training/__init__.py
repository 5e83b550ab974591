"""Training and evaluation programs on top of the braintumorai core (not shipped in the extension)."""
