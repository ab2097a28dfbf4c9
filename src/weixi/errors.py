"""One exception tree for weixi.

Every leaf also inherits the matching builtin, so callers that catch ``ValueError``
keep working, and the CLI turns any ``WeixiError`` into one clear line. ``WeixiError`` comes
first in each leaf's bases so that its ``__init__`` (which takes message parameters) is used.
"""


class WeixiError(Exception):
    """Base of every error weixi raises on purpose.

    Raised as ``SomeError("task {task} is already {status}", task=7, status="done")`` (never
    with an f-string), the message is formatted as usual and the English template and its
    parameters are kept, so the CLI and the pages show it in the reader's language
    (:func:`localized`; the template is the catalog's message id).
    """

    def __init__(self, *args: object, **params: object) -> None:
        if len(args) == 1 and isinstance(args[0], str):
            self.template: str | None = args[0]
            self.params = params
            if params:
                args = (args[0].format(**params),)
        else:
            self.template, self.params = None, {}
        super().__init__(*args)


def localized(exc: BaseException, locale: str | None = None) -> str:
    """``exc``'s message in ``locale`` (default: the CLI's language): a :class:`WeixiError`'s
    template translated and filled with its parameters (a parameter that is itself one of our
    errors in ``locale`` too); any other error's text as it is.

    >>> localized(NotFoundError("no plan for {month}", month="2026-03"), "en")
    'no plan for 2026-03'
    """
    render = getattr(exc, "render", None)
    if callable(render):  # errors with their own catalog messages (ImportProblem)
        return str(render(locale))
    template = getattr(exc, "template", None)
    if not template:
        return str(exc)
    from weixi.i18n import t

    # a wrapped error of ours (``ConfigError("campaign form: {error}", error=exc)``) too
    params = {
        k: localized(v, locale) if isinstance(v, WeixiError) else v
        for k, v in getattr(exc, "params", {}).items()
    }
    return t(template, locale, **params)


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


class StorageError(WeixiError, OSError):
    """The machine cannot hold what a step must write (a full disk); nothing half-written is
    left behind, and the message says how much space is missing where."""
