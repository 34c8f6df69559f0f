class OfflineError(RuntimeError):
    """Raised by every hub operation of the stand-in."""


class HfHubHTTPError(OSError):
    pass


class EntryNotFoundError(HfHubHTTPError):
    pass


class RepositoryNotFoundError(HfHubHTTPError):
    pass


class RevisionNotFoundError(HfHubHTTPError):
    pass


class LocalEntryNotFoundError(EntryNotFoundError):
    pass


class GatedRepoError(RepositoryNotFoundError):
    pass
