"""The treatments a visit can record (a module of its own so that the command line's help
names them without importing numpy)."""

TREATMENTS: tuple[str, ...] = ("surgery", "radiotherapy", "chemotherapy")
