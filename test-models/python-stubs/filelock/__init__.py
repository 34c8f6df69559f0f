"""Stand-in for the `filelock` package (not installed as a Debian package here): diffusers only checks that it
is installed. FileLock is a real advisory lock (fcntl.flock) for the few callers that take one."""
import fcntl
import os


class Timeout(TimeoutError):
    pass


class FileLock:
    def __init__(self, lock_file, timeout=-1):
        self.lock_file = lock_file
        self._fd = None

    def acquire(self, timeout=None):
        if self._fd is None:
            self._fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def release(self):
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
