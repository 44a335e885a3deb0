"""The one error type of the readers."""


class InputFileError(ValueError):
    """A user file is missing, of the wrong kind, or inconsistent with the others."""
