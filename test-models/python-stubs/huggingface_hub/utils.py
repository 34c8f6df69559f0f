import functools


class EntryNotFoundError(Exception):
    pass


class RepositoryNotFoundError(Exception):
    pass


class RevisionNotFoundError(Exception):
    pass


class OfflineModeIsEnabled(ConnectionError):
    pass


def is_jinja_available():
    return False


def validate_hf_hub_args(fn):
    """The real decorator checks repo ids and token arguments; local paths need no checking."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)
    return wrapper
