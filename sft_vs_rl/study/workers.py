"""Independent stages of a study in parallel processes (`run_study(workers=N)`, `sft-vs-rl study --workers N`).

On a CPU, small models leave cores idle inside one process (per-op overhead, thin GEMMs): two 1-thread processes side
by side did about 1.5× the aggregate work of one 2-thread process (measured on the 2-core CI machine when the
throughput issue was filed; the study's own speed-up is not benchmarked yet). After Init the
study's arms are independent (each seed's RL arm and the SFT arm that follows its compute, each ablation arm, RL from
the base), and so is the evaluation of every checkpoint. `run_parallel` runs such jobs in a pool of `spawn`ed
processes, each with `threads // workers` torch threads; a job is a module-level function and its arguments (both
pickled), so this module imports nothing of the study and the jobs write their outputs exactly as in one process
(each stage's `stage.json` last, each evaluation's `eval/*.json`), which keeps a parallel study resumable.

Float reductions depend on the thread count, so a parallel run's weights can differ from a one-process run's in the
last bits (as between machines); the protocol and the seeds are the same.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["run_parallel"]

logger = logging.getLogger(__name__)


def _start_worker(threads: int, level: int) -> None:
    import torch

    torch.set_num_threads(threads)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("sft_vs_rl.study").setLevel(level)


def run_parallel(jobs: Sequence[tuple[Callable[..., Any], tuple[Any, ...]]], *, workers: int,
                 threads: int) -> list[Any]:
    """Run `fn(*args)` for every `(fn, args)` of `jobs` in `workers` processes; their results in the jobs' order.

    Args:
        jobs (`Sequence[tuple[Callable, tuple]]`): module-level functions and their (picklable) arguments.
        workers (`int`): processes (at most `len(jobs)` are started); 1 runs the jobs here, one after another.
        threads (`int`): torch threads shared by the workers (each gets `max(1, threads // workers)`).

    A job that raises stops the pool and re-raises here, after the jobs already running have finished.
    """
    if workers < 1:
        raise ValueError(f"run_parallel: workers={workers!r} must be a positive number of processes.")
    if workers == 1 or len(jobs) <= 1:
        return [fn(*args) for fn, args in jobs]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    count = min(workers, len(jobs))
    per_worker = max(1, threads // count)
    logger.info("running %d jobs in %d processes of %d torch thread(s)", len(jobs), count, per_worker)
    level = logging.getLogger("sft_vs_rl.study").getEffectiveLevel()
    with ProcessPoolExecutor(max_workers=count, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_start_worker, initargs=(per_worker, level)) as pool:
        futures = [pool.submit(fn, *args) for fn, args in jobs]
        return [future.result() for future in futures]
