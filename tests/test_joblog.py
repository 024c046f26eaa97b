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
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "OMP_NUM_THREADS": "1"},
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout.split()
    assert out == ["1", "1"]
    # a user's own NUMBA_NUM_THREADS wins
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "2"},
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout.split()
    assert out == ["2", "2"]
