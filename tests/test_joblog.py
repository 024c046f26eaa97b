"""scinterp.joblog: what a job leaves in its log."""

import re
import subprocess
import sys


def test_a_job_logs_its_own_cpu_seconds_and_wall_time_at_exit(tmp_path):
    log = tmp_path / "job.log"
    code = (
        "import time\n"
        "from scinterp.joblog import job_log\n"
        f"job_log({str(log)!r})\n"
        "t = time.process_time()\n"
        "while time.process_time() - t < 0.4:\n"  # 0.4 CPU-s of work
        "    pass\n"
        "time.sleep(0.3)\n"  # wall without CPU
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    line = log.read_text().strip().splitlines()[-1]
    m = re.search(r"job resources: wall ([\d.]+) s, cpu ([\d.]+) s .*max_rss ([\d.]+) MB", line)
    assert m, line
    wall, cpu, rss = map(float, m.groups())
    assert 0.4 <= cpu < wall
    assert wall >= 0.7
    assert rss > 1
    assert line.endswith("loaded: none")  # the job imported no heavy library


def test_numba_runs_on_the_jobs_threads_not_on_every_core(tmp_path):
    # Snakemake sets OMP_NUM_THREADS to a job's threads (not NUMBA_NUM_THREADS): a 1-thread
    # job's numba kernels and TF-MoDISco's forked workers must not take every core.
    import os

    code = (
        "import os\n"
        "from scinterp.joblog import job_log\n"
        f"job_log({str(tmp_path / 'job.log')!r})\n"
        "import numba\n"
        "print(numba.config.NUMBA_NUM_THREADS, os.environ['NUMBA_NUM_THREADS'])\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_NUM_THREADS"}

    def numba_threads(**extra):
        return subprocess.run(
            [sys.executable, "-c", code],
            env={**env, "OMP_NUM_THREADS": "1", **extra},
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout.split()

    assert numba_threads() == ["1", "1"]
    # a user's own NUMBA_NUM_THREADS wins
    out = numba_threads(NUMBA_NUM_THREADS="2")
    assert out == ["2", "2"]


def test_a_torch_job_reuses_freed_memory_instead_of_faulting_fresh_pages(tmp_path):
    # a training step allocates and frees the same large blocks: in a torch job on small
    # inputs the next block is the freed one (no new zeroed pages from the kernel); on
    # atlas-sized inputs (REUSE_MEMORY_BELOW_GIB) glibc's default is kept
    import pytest

    code = (
        "import resource, sys\n"
        "import torch\n"
        "from scinterp.joblog import job_log\n"
        f"job_log({str(tmp_path / 'job.log')!r}, torch_inputs=sys.argv[2:])\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "for _ in range(60):\n"
        "    a = torch.ones(8_000_000, dtype=torch.float64)\n"  # 64 MB: above any mmap threshold
        "    del a\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)\n"
    )

    def faults(*inputs):
        out = subprocess.run(
            [sys.executable, "-c", code, "-", *map(str, inputs)],
            check=True,
            capture_output=True,
            text=True,
        )
        return int(out.stdout.split()[-1])

    import platform

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("glibc's mallopt only")
    small = tmp_path / "small.h5ad"
    small.write_bytes(b"0" * 1000)
    atlas = tmp_path / "atlas.h5ad"  # sparse file: 3 GiB on paper
    with open(atlas, "wb") as fh:
        fh.truncate(3 * 2**30)
    plain, reused = faults(atlas), faults(small)
    assert plain > 60 * 15_000  # each 64 MB block faults its ~15,600 pages afresh
    assert reused < plain / 3  # measured: 141k against 938k
