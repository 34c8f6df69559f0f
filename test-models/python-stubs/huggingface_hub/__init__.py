"""Offline stand-in for the parts of huggingface_hub that diffusers' scheduler modules import.

diffusion4j's reference scripts run diffusers' scheduler classes from a source checkout on Debian's torch 1.13 with
no network; nothing here downloads. The hub functions are importable so that diffusers' modules load, and raise
OfflineError if anything ever calls them (the reference scripts build schedulers from dicts, never from the hub).
"""
from .errors import OfflineError  # noqa: F401
from .utils import validate_hf_hub_args  # noqa: F401

__version__ = "0.0.0-diffusion4j-stand-in"


def _offline(name):
    def fn(*args, **kwargs):
        raise OfflineError(name + " needs the Hugging Face Hub; this is diffusion4j's offline stand-in")

    fn.__name__ = name
    return fn


hf_hub_download = _offline("hf_hub_download")
model_info = _offline("model_info")
snapshot_download = _offline("snapshot_download")
upload_folder = _offline("upload_folder")
create_repo = _offline("create_repo")


class DDUFEntry:
    """Placeholder type for diffusers' DDUF annotations; constructing one is refused."""

    def __init__(self, *args, **kwargs):
        raise OfflineError("DDUF archives are not supported by diffusion4j's offline stand-in")


class ModelCardData(dict):
    pass


class ModelCard:
    def __init__(self, *args, **kwargs):
        raise OfflineError("model cards need the Hugging Face Hub; this is diffusion4j's offline stand-in")
