"""huggingface_hub.utils names used by diffusers' imports."""
import importlib.util
import functools

from .errors import (  # noqa: F401
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)


def validate_hf_hub_args(fn):
    """The real decorator checks repo-id arguments; offline there are none to check, so it only wraps."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)

    return wrapper


def is_jinja_available():
    return importlib.util.find_spec("jinja2") is not None
