"""One exception tree for weixi.

Every leaf also inherits the matching builtin, so callers that catch ``ValueError``
keep working, and the CLI turns any ``WeixiError`` into one clear line.
"""


class WeixiError(Exception):
    """Base of every error weixi raises on purpose."""


class ConfigError(ValueError, WeixiError):
    """A configuration file or setting is invalid; the message says what to fix."""


class IngestError(ValueError, WeixiError):
    """An input file cannot be imported (names file, row and column where known)."""


class RuleError(ValueError, WeixiError):
    """A segmentation, eligibility or matching rule is invalid."""


class NotFoundError(LookupError, WeixiError):
    """A month, model, campaign or other object does not exist."""


class ModelError(RuntimeError, WeixiError):
    """Training or scoring a model failed."""


class CapacityError(ValueError, WeixiError):
    """A plan cannot respect the configured capacities or budget."""


class PermissionDenied(PermissionError, WeixiError):
    """The current user's role or branch does not allow the action."""


class IntegrityCheckError(RuntimeError, WeixiError):
    """Stored data failed an integrity check (a broken audit chain, a backup that does not match
    its manifest)."""
