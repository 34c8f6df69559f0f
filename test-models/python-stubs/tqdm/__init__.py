"""Offline stand-in for the part of tqdm that diffusers imports (diffusers.utils.logging, the pipelines' step loops):
a progress-bar class that iterates what it wraps (or counts to `total`) and prints nothing."""
from .auto import tqdm, set_lock, get_lock  # noqa: F401

__version__ = "0.0.0-diffusion4j-stand-in"
