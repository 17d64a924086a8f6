"""The quiz's pool of fakes: made in batches, drawn least-shown first, refreshed by its worker, one maker per pool."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from genhub.app.fake_pool import FakePool


class Maker:
    """Numbered fakes: fake number n is a (1, 2, 2) tensor full of n, its logit -n; records every call."""

    def __init__(self, delay: float = 0.0):
        self.calls: list[tuple[str, str, int]] = []
        self.made = 0
        self.delay = delay
        self.lock = threading.Lock()

    def __call__(self, key: str, difficulty: str, count: int):
        time.sleep(self.delay)
        with self.lock:
            self.calls.append((key, difficulty, count))
            first, self.made = self.made, self.made + count
        numbers = torch.arange(first, first + count, dtype=torch.float32)
        return numbers[:, None, None, None].expand(count, 1, 2, 2).clone(), -numbers


def number(fake: torch.Tensor) -> int:
    return int(fake[0, 0, 0])


def test_first_draw_makes_one_batch_then_every_fake_is_shown_once_before_any_twice():
    maker = Maker()
    pool = FakePool(maker, size=4, batch_size=4)
    drawn = [pool.draw("dcgan", "normal") for _ in range(8)]
    assert maker.calls == [("dcgan", "normal", 4)]  # no worker: only the empty pool's first draw made fakes
    assert sorted(number(fake) for fake, _ in drawn[:4]) == [0, 1, 2, 3]
    assert sorted(number(fake) for fake, _ in drawn[4:]) == [0, 1, 2, 3]
    assert all(logit == -number(fake) for fake, logit in drawn)  # each fake keeps its own logit
    assert pool.shown("dcgan", "normal") == [2, 2, 2, 2] and pool.shown("vae", "normal") == []


def test_a_model_without_a_discriminator_has_no_logits():
    pool = FakePool(lambda key, difficulty, count: (torch.zeros(count, 1, 2, 2), None), size=2, batch_size=2)
    assert pool.draw("vae", "normal")[1] is None


def test_the_worker_fills_declared_pools_and_replaces_shown_fakes_with_fresh_ones():
    maker = Maker()
    pool = FakePool(maker, size=4, batch_size=2)
    pool.prepare([("dcgan", "normal"), ("dcgan", "hard")])
    pool.start()
    deadline = time.monotonic() + 30
    while (len(pool.shown("dcgan", "normal")), len(pool.shown("dcgan", "hard"))) != (4, 4):
        assert time.monotonic() < deadline, "the worker did not fill the declared pools"
        time.sleep(0.01)
    first = {number(pool.draw("dcgan", "normal")[0]) for _ in range(4)}
    while pool.shown("dcgan", "normal") != [0, 0, 0, 0]:  # all four shown fakes replaced
        assert time.monotonic() < deadline, "the worker did not refresh the shown fakes"
        time.sleep(0.01)
    fresh = {number(pool.draw("dcgan", "normal")[0]) for _ in range(4)}
    assert len(first) == 4 and fresh.isdisjoint(first) and min(fresh) >= 8  # made after the first 8
    assert all(count <= 2 for _, _, count in maker.calls)  # in batches of at most batch_size


def test_many_players_on_an_empty_pool_wait_for_one_batch():
    maker = Maker(delay=0.2)
    pool = FakePool(maker, size=8, batch_size=8)
    results, barrier = [], threading.Barrier(16)

    def play():
        barrier.wait()
        results.append(number(pool.draw("ddpm", "normal")[0]))

    threads = [threading.Thread(target=play) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert maker.calls == [("ddpm", "normal", 8)] and sorted(results) == sorted(list(range(8)) * 2)


def test_the_worker_makes_fakes_at_most_its_share_of_the_time():
    maker = Maker(delay=0.1)
    pool = FakePool(maker, size=2, batch_size=2, worker_share=0.25)
    pool.draw("dcgan", "normal")  # fills the pool (2 fakes, one batch) before the worker starts
    pool.prepare([("dcgan", "normal")])
    pool.start()
    start = time.monotonic()
    while time.monotonic() - start < 1.2:  # keep every fake shown, so the worker always has one to replace
        pool.draw("dcgan", "normal")
        time.sleep(0.005)
    pool.stop()
    refreshes = len(maker.calls) - 1
    # each batch: 0.1 s of making, then a 0.3 s rest (0.1 s is 1/4 of 0.4 s): at most 4 in 1.2 s, not 12
    assert 1 <= refreshes <= 4


def test_the_worker_makes_each_pools_first_batch_without_resting():
    maker = Maker(delay=0.1)
    pool = FakePool(maker, size=2, batch_size=2, worker_share=0.1)  # a rest would be 0.9 s after each batch
    pools = [("dcgan", difficulty) for difficulty in ("normal", "truncated", "hard")]
    pool.prepare(pools)
    start = time.monotonic()
    pool.start()
    while not all(pool.shown(*name) for name in pools):
        assert time.monotonic() - start < 30, "the worker did not fill the pools"
        time.sleep(0.01)
    filled = time.monotonic() - start
    pool.stop()
    assert filled < 0.9  # three batches of 0.1 s back to back, not 0.3 s of making and 1.8 s of rests


@pytest.mark.parametrize("size, batch_size", [(0, 1), (4, 0), (4, 5)])
def test_refuses_impossible_sizes(size, batch_size):
    with pytest.raises(ValueError, match="need size >= 1"):
        FakePool(Maker(), size, batch_size)
    with pytest.raises(ValueError, match="worker_share"):
        FakePool(Maker(), 4, 2, worker_share=0)


def test_stop_ends_the_worker_after_its_batch():
    maker = Maker(delay=0.05)
    pool = FakePool(maker, size=64, batch_size=2)
    pool.prepare([("dcgan", "normal")])
    pool.start()
    while not maker.calls:
        time.sleep(0.01)
    pool.stop()
    assert not pool._worker.is_alive()
    made = len(maker.calls)
    time.sleep(0.2)
    assert len(maker.calls) == made < 32  # stopped before the pool was full, and nothing made since


def test_a_forgotten_model_is_never_made_again():
    """A replaced export's pools go, and the worker makes nothing more for it, while the new export's fill."""
    make = Maker()
    pool = FakePool(make, size=2, batch_size=2)
    for _ in range(2):
        pool.draw("dcgan-faces@old", "normal")  # both shown: the worker would replace them
    pool.forget("dcgan-faces@old")
    assert pool.shown("dcgan-faces@old", "normal") == []
    pool.prepare([("dcgan-faces@new", "normal")])
    pool.start()
    try:
        deadline = time.monotonic() + 10
        while len(pool.shown("dcgan-faces@new", "normal")) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
    finally:
        pool.stop()
    assert pool.shown("dcgan-faces@new", "normal") == [0, 0]
    assert [call[0] for call in make.calls].count("dcgan-faces@old") == 1  # its first batch only
