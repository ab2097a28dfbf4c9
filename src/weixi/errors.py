"""One exception tree for weixi.

Every leaf also inherits the matching builtin, so callers that catch ``ValueError``
keep working, and the CLI turns any ``WeixiError`` into one clear line. ``WeixiError`` comes
first in each leaf's bases so that its ``__init__`` (which takes message parameters) is used.
"""


class WeixiError(Exception):
    """Base of every error weixi raises on purpose.

    Raised as ``SomeError("task {task} is already {status}", task=7, status="done")``, the
    message is formatted as usual and the English template and its parameters are kept, so a
    page can show the message in the reader's language (``weixi.i18n.t``).
    """

    def __init__(self, *args: object, **params: object) -> None:
        if params and len(args) == 1 and isinstance(args[0], str):
            self.template: str | None = args[0]
            self.params = params
            args = (args[0].format(**params),)
        else:
            self.template, self.params = None, {}
        super().__init__(*args)


class ConfigError(WeixiError, ValueError):
    """A configuration file or setting is invalid; the message says what to fix."""


class IngestError(WeixiError, ValueError):
    """An input file cannot be imported (names file, row and column where known)."""


class RuleError(WeixiError, ValueError):
    """A segmentation, eligibility or matching rule is invalid."""


class NotFoundError(WeixiError, LookupError):
    """A month, model, campaign or other object does not exist."""


class ModelError(WeixiError, RuntimeError):
    """Training or scoring a model failed."""


class CapacityError(WeixiError, ValueError):
    """A plan cannot respect the configured capacities or budget."""


class PermissionDenied(WeixiError, PermissionError):
    """The current user's role or branch does not allow the action."""


class ConflictError(WeixiError, RuntimeError):
    """The object changed under the caller (a task already closed, claimed by someone else,
    or an idempotency key used for another task); the message says what happened."""


class IntegrityCheckError(WeixiError, RuntimeError):
    """Stored data failed an integrity check (a broken audit chain, a backup that does not match
    its manifest)."""
