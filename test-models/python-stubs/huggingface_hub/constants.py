import os

HF_HOME = os.path.expanduser(os.environ.get("HF_HOME", "~/.cache/huggingface"))
HF_HUB_OFFLINE = True
HF_HUB_DISABLE_TELEMETRY = True
