"""Thread declarations (ModelSpec.threads) follow the work a training job gives a second
thread: measured per thread from /proc with passive OpenMP waits, as the workflow runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scinterp.models.registry import model_spec

PROBE = r"""
import json, os, sys, tempfile
import numpy as np, scipy.sparse as sp, torch
torch.set_num_threads(2)
from scinterp.data.cells import CellDataset, split_indices
from scinterp.models import AttentionClassifier, MLPClassifier
from scinterp.train import fit

def thread_cpu():
    tck = os.sysconf("SC_CLK_TCK")
    out = {}
    for t in os.listdir("/proc/self/task"):
        f = open(f"/proc/self/task/{t}/stat").read().rsplit(")", 1)[1].split()
        out[int(t)] = (int(f[11]) + int(f[12])) / tck
    return out

rng = np.random.default_rng(0)
n, g, k = 1000, 2000, 8  # the demo's size: 2,000 genes, 8 types, minibatches of 128
y = rng.integers(k, size=n)
X = rng.gamma(0.3, 1.0, size=(n, g)).astype(np.float32)
X[np.arange(n), y * 10] += 3
ds = CellDataset(sp.csr_matrix(X), y=y)
tr, va = split_indices(n, 0.1, 0, stratify=y)
torch.manual_seed(0)
if sys.argv[1] == "mlp_classifier":
    model = MLPClassifier(g, k)
else:
    model = AttentionClassifier(g, [list(range(i, i + 40)) for i in range(0, g, 40)], k)
before = thread_cpu()
with tempfile.TemporaryDirectory() as d:
    fit(model, ds.subset(tr), ds.subset(va), outdir=d, max_epochs=2, batch_size=128,
        lr=1e-3, patience=5, seed=0, device="cpu", progress=False)
after = thread_cpu()
total = sum(v - before.get(t, 0.0) for t, v in after.items())
main = after[os.getpid()] - before[os.getpid()]
print(json.dumps({"cpu": total, "other_share": (total - main) / max(total, 1e-9)}))
"""


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="per-thread CPU from /proc")
@pytest.mark.parametrize("name", ["mlp_classifier", "attention_classifier"])
def test_training_threads_follow_the_second_threads_share(name):
    # The workflow sets OMP_WAIT_POLICY=PASSIVE (common.smk): a waiting thread sleeps, so
    # the second thread's CPU time is work it took over. A model asks for one thread when
    # the second did less than 15% of a training's CPU time (at most ~1.1x faster).
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, name], env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-2000:]
    share = json.loads(out.stdout.strip().splitlines()[-1])["other_share"]
    assert (model_spec(name).threads == 1) == (share < 0.15), (name, share)
