"""Offline stand-in for the part of tqdm that diffusers imports (diffusers.utils.logging): a progress-bar class
that iterates what it wraps and prints nothing. diffusion4j's reference scripts never show progress bars."""
from .auto import tqdm  # noqa: F401

__version__ = "0.0.0-diffusion4j-stand-in"
