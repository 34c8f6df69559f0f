"""tqdm.auto.tqdm: iterates the wrapped iterable, counts updates, prints nothing."""


class tqdm:
    def __init__(self, iterable=None, *args, total=None, disable=False, **kwargs):
        self.iterable = iterable
        self.total = total if total is not None else (len(iterable) if hasattr(iterable, "__len__") else None)
        self.n = 0

    def __iter__(self):
        for item in self.iterable:
            self.n += 1
            yield item

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n=1):
        self.n += n

    def set_description(self, *args, **kwargs):
        pass

    def set_postfix(self, *args, **kwargs):
        pass

    def close(self):
        pass

    @staticmethod
    def write(s, *args, **kwargs):
        print(s)


def set_lock(lock):
    pass


def get_lock():
    return None
