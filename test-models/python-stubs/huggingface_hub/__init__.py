"""Stand-in for `huggingface_hub` (not installed here, and the Hub is not reachable): diffusers imports it
everywhere but, for local folders, only calls `split_torch_state_dict_into_shards` (in save_pretrained) and
`validate_hf_hub_args`. Everything that would talk to the Hub raises a clear error instead."""
import dataclasses
import os
from typing import Dict, List

from . import constants, utils  # noqa: F401
from .errors import OfflineError  # noqa: F401
from .utils import validate_hf_hub_args  # noqa: F401
from .file_download import REGEX_COMMIT_HASH  # noqa: F401

__version__ = "0.24.0"


def _offline(name):
    def f(*args, **kwargs):
        raise OSError(f"huggingface_hub stand-in: {name} needs the Hugging Face Hub; use a local folder")
    f.__name__ = name
    return f


create_repo = _offline("create_repo")
hf_hub_download = _offline("hf_hub_download")
model_info = _offline("model_info")
snapshot_download = _offline("snapshot_download")
upload_folder = _offline("upload_folder")


class ModelCardData:
    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)


class ModelCard:
    def __init__(self, content=""):
        self.content = content

    @classmethod
    def load(cls, *args, **kwargs):
        raise OSError("huggingface_hub stand-in: ModelCard.load needs the Hub")

    def save(self, path):
        with open(path, "w") as f:
            f.write(self.content)


@dataclasses.dataclass
class StateDictSplit:
    is_sharded: bool
    metadata: Dict
    filename_to_tensors: Dict[str, List[str]]
    tensor_to_filename: Dict[str, str]


def _parse_size(size):
    if isinstance(size, int):
        return size
    units = {"KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}
    s = size.upper()
    for u in sorted(units, key=len, reverse=True):
        if s.endswith(u):
            return int(float(s[: -len(u)]) * units[u])
    return int(s)


def split_torch_state_dict_into_shards(state_dict, *, filename_pattern="model{suffix}.safetensors",
                                       max_shard_size="5GB"):
    """Greedy split in key order into files of at most max_shard_size bytes, named as huggingface_hub names them
    (`{suffix}` empty for one file, `-00001-of-00002` otherwise)."""
    limit = _parse_size(max_shard_size)
    shards, current, size = [], [], 0
    for name, t in state_dict.items():
        n = t.numel() * t.element_size()
        if current and size + n > limit:
            shards.append(current)
            current, size = [], 0
        current.append(name)
        size += n
    if current or not shards:
        shards.append(current)
    if len(shards) == 1:
        files = {filename_pattern.format(suffix=""): shards[0]}
    else:
        files = {filename_pattern.format(suffix=f"-{i + 1:05d}-of-{len(shards):05d}"): s for i, s in enumerate(shards)}
    total = sum(t.numel() * t.element_size() for t in state_dict.values())
    return StateDictSplit(is_sharded=len(files) > 1, metadata={"total_size": total}, filename_to_tensors=files,
                          tensor_to_filename={k: f for f, ks in files.items() for k in ks})


class DDUFEntry:
    """Placeholder type for diffusers' DDUF annotations; constructing one is refused."""

    def __init__(self, *args, **kwargs):
        raise OfflineError("DDUF archives are not supported by diffusion4j's offline stand-in")
