from tqdm import tqdm, set_lock, get_lock  # noqa: F401
