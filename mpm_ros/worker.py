"""One inference worker for the nodes (ROS-free): a bounded drop-oldest queue in front of one thread.

The input callback must never wait for inference: `submit()` returns at once, dropping the oldest waiting jobs
when the queue is full (the caller counts them), so a slow model drops whole frames instead of adding latency.
The lifter uses it for lift() + publish (capacity = queue_size), pose2d for detection (capacity 1: the newest
image only). A job that raises is handed to `on_error` and the thread keeps serving.
"""
from __future__ import annotations

import threading
from collections import deque
from typing import Callable, Generic, TypeVar

Job = TypeVar("Job")


class InferenceWorker(Generic[Job]):
    """`run(job)` on a thread of its own; `start()` / `stop()` (joins: after it returns, nothing runs)."""

    def __init__(self, name: str, run: Callable[[Job], None], on_error: Callable[[Exception], None]) -> None:
        self.name, self._run, self._on_error = name, run, on_error
        self._jobs: deque[Job] = deque()
        self._changed = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        with self._changed:
            self._stop = False
            self._jobs.clear()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def submit(self, job: Job, capacity: int) -> int:
        """Queue `job`, first dropping the oldest waiting jobs beyond `capacity - 1`; how many were dropped."""
        with self._changed:
            dropped = 0
            while len(self._jobs) >= max(capacity, 1):
                self._jobs.popleft()
                dropped += 1
            self._jobs.append(job)
            self._changed.notify()
        return dropped

    def stop(self, timeout_s: float = 10.0) -> None:
        """Discard waiting jobs, end the thread and wait for it (no ROS calls: safe after the context is gone)."""
        if self._thread is None:
            return
        with self._changed:
            self._stop = True
            self._jobs.clear()
            self._changed.notify_all()
        self._thread.join(timeout=timeout_s)
        self._thread = None

    def _loop(self) -> None:
        while True:
            with self._changed:
                while not self._jobs and not self._stop:
                    self._changed.wait()
                if self._stop:
                    return
                job = self._jobs.popleft()
            try:
                self._run(job)
            except Exception as exc:  # one failed job is one dropped frame; the worker keeps serving
                self._on_error(exc)

