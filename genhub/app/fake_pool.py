"""Fakes made ahead, in batches, so a quiz round only draws one (it never waits for a generator under load).

One pool per (model key, difficulty) holds up to ``size`` fakes, each with the discriminator's logit when the
model has one. A round takes a fake among the least-shown ones; a worker thread (:meth:`FakePool.start`) keeps
filling the pools and replacing the most-shown fakes with fresh batches, busiest pools first, in at most
``worker_share`` of its wall time, so the rounds keep the CPU: with few players every fake is fresh; with many, a
fake may be shown to several players before it is replaced, as a held-out real face may be (each showing is freshly
dithered, so no two served files are the same bytes). Nothing here leaves the server.
"""

from __future__ import annotations

import atexit
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

#: (model key, difficulty) -> (fakes float (N, C, H, W) on the 8-bit grid in [-1, 1], logits (N,) or None)
MakeFakes = Callable[[str, str, int], tuple[torch.Tensor, torch.Tensor | None]]


@dataclass
class _Fake:
    pixel_values: torch.Tensor  # (C, H, W)
    logit: float | None
    shown: int = 0


class FakePool:
    """Fakes per (model key, difficulty), made by ``make(key, difficulty, count)`` in batches of ``batch_size``.

    Parameters:
        make: makes ``count`` fakes of one model at one difficulty (see :data:`MakeFakes`).
        size: fakes kept per pool (>= 1).
        batch_size: fakes made per call of ``make`` (1..size); an empty pool's first draw makes one batch itself.
        worker_share: in (0, 1], the largest share of its wall time the worker spends making fakes (after each
            batch it waits until the batch's seconds are that share of the time since the batch began), except for
            each pool's first batch.

    Raises:
        ValueError: ``size`` < 1, ``batch_size`` outside 1..size or ``worker_share`` outside (0, 1].
    """

    def __init__(self, make: MakeFakes, size: int = 64, batch_size: int = 8, worker_share: float = 0.25):
        if size < 1 or not 1 <= batch_size <= size:
            raise ValueError(f"need size >= 1 and 1 <= batch_size <= size, got size={size}, batch_size={batch_size}")
        if not 0 < worker_share <= 1:
            raise ValueError(f"need 0 < worker_share <= 1, got {worker_share}")
        self.make, self.size, self.batch_size, self.worker_share = make, size, batch_size, worker_share
        self._pools: dict[tuple[str, str], list[_Fake]] = {}
        self._forgotten: set[str] = set()  # keys whose pools were dropped (forget): never made again
        self._making: dict[tuple[str, str], threading.Lock] = {}  # one maker per pool at a time
        self._lock = threading.Condition()
        self._rng = random.SystemRandom()
        self._worker: threading.Thread | None = None
        self._stopping = False

    def prepare(self, pools: list[tuple[str, str]]) -> None:
        """Declare pools (model key, difficulty) for the worker to fill before their first draw."""
        with self._lock:
            for pool in pools:
                self._pools.setdefault(pool, [])
            self._lock.notify_all()

    def forget(self, key: str) -> None:
        """Drop every pool of model ``key`` (its export was replaced: its fakes are no longer the served model's); the
        worker never makes fakes for it again (a round racing the swap may still draw one batch)."""
        with self._lock:
            self._forgotten.add(key)
            for pool in [pool for pool in self._pools if pool[0] == key]:
                del self._pools[pool]

    def draw(self, key: str, difficulty: str) -> tuple[torch.Tensor, float | None]:
        """A fake of ``key`` at ``difficulty``, among the least-shown of its pool: (pixel values (C, H, W), logit)."""
        pool = (key, difficulty)
        with self._lock:
            empty = not self._pools.get(pool)
        if empty:  # the first round of this pool: make a batch now (one maker; the others wait for it)
            self._refill(pool, only_if_empty=True)
        with self._lock:
            fakes = self._pools[pool]
            fewest = min(fake.shown for fake in fakes)
            fake = self._rng.choice([fake for fake in fakes if fake.shown == fewest])
            fake.shown += 1
            self._lock.notify_all()
        return fake.pixel_values, fake.logit

    def shown(self, key: str, difficulty: str) -> list[int]:
        """How many times each fake of a pool has been drawn (empty: the pool is not made yet)."""
        with self._lock:
            return [fake.shown for fake in self._pools.get((key, difficulty), [])]

    def _refill(self, pool: tuple[str, str], only_if_empty: bool = False) -> None:
        """Make up to one batch for ``pool``: it grows to :attr:`size`, then its shown fakes are replaced, the most
        shown first."""
        with self._lock:
            maker = self._making.setdefault(pool, threading.Lock())
        with maker:
            with self._lock:
                fakes = self._pools.get(pool, [])
                if only_if_empty and fakes:
                    return  # another draw made it meanwhile
                wanted = self.size - len(fakes) + sum(1 for fake in fakes if fake.shown)
                count = max(1, min(self.batch_size, wanted))
            images, logits = self.make(*pool, count)
            made = [_Fake(image, None if logits is None else float(logits[index]))
                    for index, image in enumerate(images)]
            with self._lock:
                fakes = self._pools.setdefault(pool, [])
                room = max(0, self.size - len(fakes))
                fakes += made[:room]
                replacing = made[room:]
                if replacing:  # the most-shown go
                    fakes.sort(key=lambda fake: fake.shown)
                    fakes[-len(replacing):] = replacing

    def _busiest(self) -> tuple[str, str] | None:
        """The pool to make fakes for next: the emptiest of those not full, else the one shown most; None: all are
        full and unshown."""
        def need(pool):
            fakes = self._pools[pool]
            return (self.size - len(fakes), sum(fake.shown for fake in fakes))

        candidates = [pool for pool, fakes in self._pools.items() if pool[0] not in self._forgotten
                      and (len(fakes) < self.size or any(fake.shown for fake in fakes))]
        return max(candidates, key=need) if candidates else None

    def start(self) -> None:
        """Run the refilling worker (a daemon thread; idempotent), stopped at interpreter exit. Without it, pools
        are made only by draws."""
        with self._lock:
            if self._worker is not None:
                return
            self._worker = threading.Thread(target=self._work, name="genhub-fake-pool", daemon=True)
        self._worker.start()
        atexit.register(self.stop)

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the worker after the batch it is making (a daemon thread still inside torch when the interpreter
        exits aborts the process)."""
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        if self._worker is not None:
            self._worker.join(timeout)

    def _work(self) -> None:
        while True:
            with self._lock:
                pool = self._busiest()
                while pool is None and not self._stopping:
                    self._lock.wait()
                    pool = self._busiest()
                if self._stopping:
                    return
                empty = not self._pools[pool]
            started = time.monotonic()
            self._refill(pool)
            # An empty pool's first batch is made at once: a round drawing from it would wait for it anyway.
            rest = 0.0 if empty else (time.monotonic() - started) * (1 / self.worker_share - 1)
            with self._lock:
                self._lock.wait_for(lambda: self._stopping, timeout=rest)
