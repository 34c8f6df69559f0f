"""Stand-in for `tqdm` (not installed here): diffusers' pipelines wrap their step loop in a progress bar. This one
iterates what it is given (or counts to `total`) and prints nothing."""


class tqdm:
    def __init__(self, iterable=None, total=None, disable=False, **kwargs):
        self.iterable = iterable
        self.total = total
        self.n = 0

    def __iter__(self):
        for x in self.iterable:
            self.n += 1
            yield x

    def update(self, n=1):
        self.n += n

    def set_postfix(self, *args, **kwargs):
        pass

    def set_description(self, *args, **kwargs):
        pass

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def set_lock(lock):
    pass


def get_lock():
    return None
