"""Run independent jobs in parallel: local processes by default, a Ray cluster on request.

Every job of the sparse-update planner (a fine-tuning run, a memory measurement, a chunk of
frozen-prefix features) is a pure function of a small picklable dict, so the same call
`runner.map(fn, jobs)` works on one core, on all local cores, and on Ray:

    serial          in this process (tests, debugging)
    local[:N]       a process pool of N workers (default: all cores), concurrent.futures
    ray[:ADDRESS]   Ray tasks (pip install 'mcutrain[ray]'); no address starts a local Ray
                    instance, "auto" joins a running cluster, or give ray://host:port

`map` yields (index, result) as jobs finish, so the caller can save each result to its cache
at once (an interrupted plan keeps every finished run) and drive a progress bar with an ETA.
"""
from __future__ import annotations

import os
import sys
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

from ..errors import MissingDependency, UsageError
from ..progress import bar as progress_bar


def _cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class SerialRunner:
    name = "serial"
    workers = 1

    def map(self, fn, jobs):
        for i, job in enumerate(jobs):
            yield i, fn(job)

    def close(self):
        pass


class LocalRunner:
    """A pool of worker processes on this machine (one job per process at a time)."""

    def __init__(self, workers: int | None = None):
        self.workers = workers or _cpu_count()
        self.name = f"local:{self.workers}"
        self._pool = None

    def _get_pool(self):
        if self._pool is None:
            import multiprocessing as mp

            # fork keeps start-up cheap; the parent never holds threads that jobs need
            ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
            self._pool = ProcessPoolExecutor(self.workers, mp_context=ctx)
        return self._pool

    def map(self, fn, jobs):
        jobs = list(jobs)
        if self.workers == 1 or len(jobs) <= 1:
            yield from SerialRunner().map(fn, jobs)
            return
        pool = self._get_pool()
        futs = {pool.submit(fn, job): i for i, job in enumerate(jobs)}
        try:
            pending = set(futs)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    yield futs[f], f.result()
        finally:
            for f in futs:
                f.cancel()

    def close(self):
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class RayRunner:
    """Ray tasks; each job is one remote call of `fn` (the same function as locally)."""

    def __init__(self, address: str | None = None, num_cpus: int | None = None):
        try:
            import ray
        except ImportError:
            raise MissingDependency("runner 'ray' needs Ray: pip install 'mcutrain[ray]'") from None
        self.ray = ray
        if not ray.is_initialized():
            kw = dict(ignore_reinit_error=True, include_dashboard=False, log_to_driver=False)
            if address:
                ray.init(address=address, **kw)
            else:
                ray.init(num_cpus=num_cpus, **kw)
        self.workers = int(ray.cluster_resources().get("CPU", 1))
        self.name = f"ray:{self.workers}cpu"
        self._remote = {}

    def map(self, fn, jobs):
        ray = self.ray
        rf = self._remote.get(fn)
        if rf is None:
            rf = self._remote[fn] = ray.remote(num_cpus=1)(fn)
        refs = {rf.remote(job): i for i, job in enumerate(jobs)}
        pending = list(refs)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for r in done:
                    yield refs[r], ray.get(r)
        finally:
            for r in pending:
                ray.cancel(r)

    def close(self):
        pass  # the Ray instance belongs to the user (or is shut down at interpreter exit)


def make_runner(spec=None):
    """'serial', 'local', 'local:N', 'ray', 'ray:ADDRESS', an int (local workers) or a runner."""
    if spec is None or spec == "local":
        return LocalRunner()
    if hasattr(spec, "map"):
        return spec
    if isinstance(spec, int):
        return LocalRunner(spec) if spec > 1 else SerialRunner()
    spec = str(spec)
    if spec == "serial":
        return SerialRunner()
    if spec.startswith("local:"):
        n = spec.partition(":")[2]
        if not n.isdigit() or int(n) < 1:
            raise UsageError(f"--runner {spec}: local:N needs a number of workers N >= 1")
        return LocalRunner(int(n)) if int(n) > 1 else SerialRunner()
    if spec == "ray" or spec.startswith("ray:"):
        return RayRunner(spec.partition(":")[2] or None)
    raise UsageError(f"--runner {spec}: unknown runner; use serial, local, local:N, ray or "
                     "ray:ADDRESS")


def run_jobs(runner, fn, jobs, desc: str = "", progress: bool = True, on_result=None) -> list:
    """Run jobs through `runner`, with a bar (ETA) when progress is on and on a terminal; `on_result(i, r)`
    is called as each finishes (the caller caches it there). Returns results in job order."""
    jobs = list(jobs)
    out = [None] * len(jobs)
    if not jobs:
        return out
    bar = progress_bar(total=len(jobs), desc=desc, unit="run", file=sys.stderr,
                       dynamic_ncols=True, enabled=progress)
    try:
        for i, r in runner.map(fn, jobs):
            out[i] = r
            if on_result is not None:
                on_result(i, r)
            bar.update(1)
    finally:
        bar.close()
    return out
