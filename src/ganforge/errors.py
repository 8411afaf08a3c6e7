"""User-facing errors: each names the flag, file or value at fault and what to do about it."""


class GanforgeError(Exception):
    """A problem with the user's input (flags, files, checkpoints); the CLI prints it and exits non-zero."""


class ConfigError(GanforgeError):
    """A configuration value is invalid; the message names the flag."""


class DataError(GanforgeError):
    """A dataset path or file cannot be used; the message names the path."""


class CheckpointError(GanforgeError):
    """A checkpoint or export is missing, truncated, or of another format."""


class TrainingDiverged(GanforgeError):
    """A loss became NaN or infinite; the last good checkpoint is left intact."""
