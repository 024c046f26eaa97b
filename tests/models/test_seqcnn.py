"""The sequence CNN learns a planted motif on a tiny synthetic peaks x cells set."""

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from scinterp.data.sequences import PeakDataset, one_hot, reverse_complement
from scinterp.models.seqcnn import SeqCNN

MOTIF = "GATAAGGTCA"
N_CELLS, RESPONSIVE = 20, 10
SMALL = dict(n_filters=32, tower_filters=32, bottleneck=16)


def _synthetic(n_peaks=800, length=120, seed=0):
    """Half the peaks carry MOTIF (random strand and position); it opens them in cells 0-9."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 4, size=(n_peaks, length))
    has = rng.random(n_peaks) < 0.5
    motif = one_hot(MOTIF).argmax(0)
    motif_rc = reverse_complement(one_hot(MOTIF)).argmax(0)
    for i in np.flatnonzero(has):
        pos = rng.integers(0, length - len(MOTIF))
        tokens[i, pos : pos + len(MOTIF)] = motif if rng.random() < 0.5 else motif_rc
    x = (tokens[:, None, :] == np.arange(4)[None, :, None]).astype(np.float32)
    p = np.full((n_peaks, N_CELLS), 0.05)
    p[np.ix_(has, np.arange(RESPONSIVE))] = 0.95
    y = (rng.random(p.shape) < p).astype(np.float32)
    return x, y.T, has  # accessibility as cells x peaks, like an AnnData


def _train(model, train_ds, epochs, seed=0):
    torch.manual_seed(seed)
    loader = torch.utils.data.DataLoader(
        train_ds, batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(seed)
    )
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=1e-4)
    model.train()
    for _ in range(epochs):
        for batch in loader:
            opt.zero_grad()
            model.loss(batch)["loss"].backward()
            opt.step()
    return model.eval()


def _fit(model, train_ds, val_ds, epochs, outdir):
    """The shared training loop when it is there, else the plain loop above."""
    try:
        from scinterp.train.loop import fit
    except ImportError:
        return _train(model, train_ds, epochs)
    fit(
        model,
        train_ds,
        val_ds,
        outdir=outdir,
        max_epochs=epochs,
        batch_size=32,
        lr=1e-2,
        patience=epochs,
        seed=0,
        device="cpu",
        progress=False,
    )
    return model.eval()


def _val_auroc(model, val_ds):
    batch = val_ds.__getitems__(np.arange(len(val_ds)))
    x = torch.stack([b["x"] for b in batch])
    y = torch.stack([b["y"] for b in batch]).numpy()
    with torch.no_grad():
        pred = model(x).numpy()
    return np.mean([roc_auc_score(y[:, c], pred[:, c]) for c in range(RESPONSIVE)])


def _motif_match(filters: torch.Tensor, motif: str) -> tuple[float, int]:
    """Best Pearson r between a filter window and the motif (either strand), and how many
    bases of that window's consensus equal the motif's."""
    k = len(motif)
    w = filters.numpy()
    w = w - w.mean(axis=1, keepdims=True)  # one-hot columns: only differences between bases count
    best = (-1.0, 0)
    for m in (one_hot(motif), reverse_complement(one_hot(motif))):
        consensus = m.argmax(axis=0)
        m = (m - m.mean(axis=0, keepdims=True)).ravel()
        for off in range(w.shape[2] - k + 1):
            win = w[:, :, off : off + k]
            r = [np.corrcoef(row.ravel(), m)[0, 1] for row in win]
            f = int(np.nanargmax(r))
            if r[f] > best[0]:
                best = (float(r[f]), int((win[f].argmax(axis=0) == consensus).sum()))
    return best


def _filter_ppms(model, x: np.ndarray, top: int = 100) -> np.ndarray:
    """Read filters as Basset does: average the one-hot windows where each filter fires most."""
    with torch.no_grad():
        act = model.first_layer_activations(torch.from_numpy(x)).numpy()  # (n, filters, L)
    width = model.first_layer_filters().shape[2]
    padded = np.pad(x, ((0, 0), (0, 0), (width // 2, width // 2)))
    ppms = []
    for a in act.transpose(1, 0, 2):
        pos, seqs = a.argmax(axis=1), np.argsort(a.max(axis=1))[::-1][:top]
        ppms.append(np.mean([padded[i, :, pos[i] : pos[i] + width] for i in seqs], axis=0))
    return np.stack(ppms)


def _ppm_match(ppms: np.ndarray, motif: str) -> tuple[float, int]:
    """Best Pearson r between a PPM window and the motif (either strand), with consensus matches."""
    k, best = len(motif), (-1.0, 0)
    for m in (one_hot(motif), reverse_complement(one_hot(motif))):
        target = (m - 0.25).ravel()
        for ppm in ppms:
            for off in range(ppm.shape[1] - k + 1):
                win = ppm[:, off : off + k]
                r = float(np.corrcoef((win - 0.25).ravel(), target)[0, 1])
                if r > best[0]:
                    best = (r, int((win.argmax(axis=0) == m.argmax(axis=0)).sum()))
    return best


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("seqcnn")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny convolutions: one thread is fastest, and shares the CPU
    try:
        x, acc, _ = _synthetic()
        ds = PeakDataset(x, acc, rc_augment=True, seed=0)
        train_ds, val_ds = ds.split(val_fraction=0.25, seed=0)
        torch.manual_seed(0)
        model = SeqCNN(N_CELLS, x.shape[2], **SMALL)
        model.init_cell_bias(torch.from_numpy(acc.mean(axis=1)))
        initial = model.first_layer_filters(), _ppm_match(_filter_ppms(model.eval(), x), MOTIF)
        yield _fit(model, train_ds, val_ds, epochs=6, outdir=outdir), train_ds, val_ds, acc, initial
    finally:
        torch.set_num_threads(threads)


def test_shapes_and_accessors():
    model = SeqCNN(n_cells=7, seq_len=500).eval()
    x = torch.from_numpy(one_hot(["ACGT" * 125] * 3))
    assert model(x).shape == (3, 7)
    assert model.cell_embeddings().shape == (7, 32)
    assert model.first_layer_filters().shape == (64, 4, 17)
    assert model.embed(x).shape == (3, 32)
    # both strands: the prediction is strand-symmetric
    torch.testing.assert_close(model(x), model(x.flip(dims=(1, 2))))
    out = model.loss({"x": x, "y": torch.zeros(3, 7)})
    assert out["loss"].ndim == 0 and out["loss"].requires_grad
    with pytest.raises(ValueError, match="batch, 4, L"):
        model(torch.zeros(2, 5, 500))
    one = SeqCNN(n_cells=2, seq_len=60, both_strands=False, activation="relu").eval()
    assert one(x[:, :, :60]).shape == (3, 2)


def test_state_dict_roundtrip_weights_only(tmp_path, trained):
    model = trained[0]
    torch.save(model.state_dict(), tmp_path / "model.pt")
    clone = SeqCNN(N_CELLS, model.seq_len, **SMALL)
    clone.load_state_dict(torch.load(tmp_path / "model.pt", weights_only=True))
    x = torch.from_numpy(one_hot(["ACGT" * (model.seq_len // 4)]))
    torch.testing.assert_close(clone.eval()(x), model(x))


def test_learns_planted_motif(trained):
    model, _, val_ds, _, (initial_filters, initial_ppm_match) = trained
    assert _val_auroc(model, val_ds) > 0.85
    # filters read from their activations (top-scoring windows): the motif, all 10 bases
    x, _, _ = _synthetic()
    r_ppm, n_ppm = _ppm_match(_filter_ppms(model, x), MOTIF)
    assert r_ppm > 0.9 and n_ppm == len(MOTIF) and r_ppm > initial_ppm_match[0]
    # filters read from their raw weights: noisier (random filters reach r ~0.5-0.65)
    r, _ = _motif_match(model.first_layer_filters(), MOTIF)
    assert r > 0.6 and r > _motif_match(initial_filters, MOTIF)[0]
    # the responsive cells' embeddings are alike, and unlike the others'
    emb = model.cell_embeddings().numpy()
    corr = np.corrcoef(emb)
    assert corr[:RESPONSIVE, :RESPONSIVE].mean() > corr[:RESPONSIVE, RESPONSIVE:].mean() + 0.3


def test_beats_shuffled_label_control(trained):
    model, train_ds, val_ds, acc, _ = trained
    x, _, _ = _synthetic()
    rng = np.random.default_rng(1)
    shuffled = PeakDataset(x, acc[:, rng.permutation(acc.shape[1])], seed=0)
    torch.manual_seed(0)
    control = SeqCNN(N_CELLS, x.shape[2], **SMALL)
    control = _train(control, shuffled.subset(train_ds.indices), epochs=2)
    assert _val_auroc(control, val_ds) < 0.7 < _val_auroc(model, val_ds)


@pytest.mark.parametrize("pool", ["flatten", "mean"])
def test_both_strands_keeps_deeplift_complete(pool):
    """Captum's DeepLift stacks inputs and baselines in one batch and splits it in halves;
    the interleaved strand batch must keep those halves aligned (exact without max-pools)."""
    import warnings

    from captum.attr import DeepLift

    from scinterp.data.sequences import dinucleotide_shuffle

    rng = np.random.default_rng(0)
    x = torch.from_numpy(one_hot(["".join(rng.choice(list("ACGT"), 96)) for _ in range(4)]))
    base = torch.from_numpy(dinucleotide_shuffle(x.numpy(), 0))
    torch.manual_seed(0)
    model = SeqCNN(
        5, 96, activation="relu", first_activation="relu", pool=pool, n_tower=0, first_pool=1
    ).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        attr, delta = DeepLift(model).attribute(
            x, baselines=base, target=2, return_convergence_delta=True
        )
    assert attr.shape == x.shape
    assert delta.abs().max() < 1e-4 < (model(x) - model(base))[:, 2].abs().mean()


def test_pool_mean_is_position_invariant_and_checked():
    torch.manual_seed(0)
    model = SeqCNN(3, 120, pool="mean", both_strands=False, first_pool=1, n_tower=0).eval()
    rng = np.random.default_rng(1)
    seq = "".join(rng.choice(list("ACGT"), 100))
    pad = "A" * 20
    a = torch.from_numpy(one_hot([pad + seq, seq + pad]))
    out = model(a)
    # a global mean over positions: shifting the content changes only the edge windows
    assert torch.allclose(out[0], out[1], atol=0.2 * out.abs().max().item())
    with pytest.raises(ValueError, match="'max', 'mean' or 'flatten'"):
        SeqCNN(3, 120, pool="sum")


def _schema_train_defaults():
    from pathlib import Path

    import yaml

    schema = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"
    props = yaml.safe_load(schema.read_text())["properties"]["train"]["properties"]
    return {k: v["default"] for k, v in props.items() if "default" in v}


def _write_synthetic(folder, n_peaks=600, length=200, seed=0):
    """_synthetic() as files: an ATAC h5ad (cells x peaks) and a genome of the peaks
    separated by random spacers. Motif peaks open with probability 0.6 in the responsive
    cells (0.05 elsewhere), like the demo's cell-type peaks."""
    import anndata as ad
    import pandas as pd
    import scipy.sparse as sp

    from scinterp.data.sequences import decode_one_hot

    x, _, has = _synthetic(n_peaks=n_peaks, length=length, seed=seed)
    rng = np.random.default_rng(seed + 1)
    p = np.full((N_CELLS * 10, n_peaks), 0.05)
    responsive = np.arange(N_CELLS * 10) < RESPONSIVE * 10
    p[np.ix_(responsive, has)] = 0.6
    acc = (rng.random(p.shape) < p).astype(np.float32)
    gap = 100
    parts, starts = [], []
    for seq in decode_one_hot(x):
        parts.append("".join(rng.choice(list("ACGT"), gap)))
        starts.append(sum(map(len, parts)))
        parts.append(seq)
    parts.append("".join(rng.choice(list("ACGT"), gap)))
    genome = "".join(parts)
    (folder / "genome.fa").write_text(
        ">chr1\n" + "\n".join(genome[i : i + 60] for i in range(0, len(genome), 60)) + "\n"
    )
    var = pd.DataFrame(
        {"chrom": "chr1", "start": starts, "end": np.asarray(starts) + length},
        index=[f"peak{i}" for i in range(n_peaks)],
    )
    obs = pd.DataFrame(index=[f"cell{i}" for i in range(len(acc))])
    ad.AnnData(sp.csr_matrix(acc), obs=obs, var=var).write_h5ad(folder / "atac.h5ad")
    return folder / "atac.h5ad", folder / "genome.fa", has, responsive


def test_default_training_beats_per_cell_rate(tmp_path):
    """With the workflow's default settings (train_from_files), held-out peaks are predicted
    better from sequence than from each cell's open rate alone, and the motif peaks rank
    first in the responsive cells."""
    import anndata as ad
    import pandas as pd

    from scinterp.models.registry import load_model
    from scinterp.train.run import train_from_files

    atac_path, genome_path, has, responsive = _write_synthetic(tmp_path)
    params = {**_schema_train_defaults(), "device": "cpu", "seq_width": 200, "seq_max_epochs": 15}
    params["val_fraction"] = 0.25
    threads = torch.get_num_threads()
    torch.set_num_threads(min(threads, 2))
    try:
        train_from_files(
            "seq_cnn",
            normalized=None,
            outdir=tmp_path / "model",
            params=params,
            atac=atac_path,
            genome=genome_path,
        )
    finally:
        torch.set_num_threads(threads)
    model, meta = load_model(tmp_path / "model")
    peaks = pd.read_csv(tmp_path / "model" / "peaks.tsv", sep="\t")
    atac = ad.read_h5ad(atac_path)
    val = np.asarray(meta["val_peaks"])
    ds = PeakDataset.from_anndata(atac, peaks, _onehot(genome_path, peaks))
    x = torch.from_numpy(ds.onehot[val].astype(np.float32))
    y = ds.peaks_by_cells[val].toarray()
    train = np.setdiff1d(np.arange(len(peaks)), val)
    rate = np.asarray(ds.peaks_by_cells[train].mean(axis=0)).ravel().clip(1e-4, 1 - 1e-4)
    with torch.no_grad():
        logits = model.eval()(x)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.from_numpy(y))
    base = -np.mean(y * np.log(rate) + (1 - y) * np.log(1 - rate))
    assert bce.item() < base - 0.01, (bce.item(), base)
    motif = has[peaks["var_idx"].to_numpy()][val]
    score = logits[:, responsive].mean(1) - logits[:, ~responsive].mean(1)
    assert roc_auc_score(motif, score.numpy()) > 0.9


def test_training_is_deterministic_given_the_seed(tmp_path):
    """Two trainings with the same seed (initial weights, augmentation, batches) give the
    same weights; another seed does not."""
    from scinterp.models.registry import load_model
    from scinterp.train.run import train_from_files

    atac_path, genome_path, _, _ = _write_synthetic(tmp_path)
    base = {**_schema_train_defaults(), "device": "cpu", "seq_width": 200, "seq_max_epochs": 2}
    states = []
    for run, seed in (("a", 0), ("b", 0), ("c", 1)):
        train_from_files(
            "seq_cnn",
            normalized=None,
            outdir=tmp_path / run,
            params={**base, "seed": seed},
            atac=atac_path,
            genome=genome_path,
        )
        states.append(load_model(tmp_path / run)[0].state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    assert not all(torch.equal(states[0][k], states[2][k]) for k in states[0])


def _onehot(genome_path, peaks):
    from scinterp.data.sequences import fetch_sequences, open_genome

    return one_hot(fetch_sequences(open_genome(genome_path), peaks), dtype=np.uint8)


def test_shift_augment_moves_bases_and_fills_n():
    from scinterp.data.sequences import decode_one_hot

    x = one_hot(["ACGTTGCAAC", "AAAACCCCGG"])
    ds = PeakDataset(x, np.ones((3, 2)), shift_augment=2, seed=1)
    train, val = ds.split(val_fraction=0.5, seed=0)
    assert train.shift_augment == 2 and val.shift_augment == 0
    seen = set()
    for _ in range(30):
        for orig, got in zip(
            ["ACGTTGCAAC", "AAAACCCCGG"], decode_one_hot(ds._batch([0, 1])[0]), strict=True
        ):
            for k in range(-2, 3):
                want = ("N" * k + orig)[:10] if k >= 0 else (orig + "N" * -k)[-k:]
                if got == want:
                    seen.add(k)
                    break
            else:
                raise AssertionError(f"{got} is not a shift of {orig}")
    assert seen == {-2, -1, 0, 1, 2}


def test_mutate_augment_substitutes_a_fraction_of_bases():
    rng = np.random.default_rng(0)
    x = one_hot(["".join(rng.choice(list("ACGT"), 200)) for _ in range(50)])
    ds = PeakDataset(x, np.ones((3, 50)), mutate_augment=0.2, seed=3)
    train, val = ds.split(val_fraction=0.2, seed=0)
    assert train.mutate_augment == 0.2 and val.mutate_augment == 0.0
    got, _ = train._batch(np.arange(len(train)))
    orig = x[train.indices]
    assert np.all(got.sum(axis=1) == 1)  # still one base per position
    changed = (got != orig).any(axis=1).mean()
    # 40 of 200 positions redrawn, 3 in 4 of them to another base
    assert 0.13 < changed < 0.17
    again, _ = train._batch(np.arange(len(train)))
    assert (again != got).any()  # fresh substitutions every time
    v, _ = val._batch(np.arange(len(val)))
    np.testing.assert_array_equal(v, x[val.indices])
    with pytest.raises(ValueError, match="mutate_augment"):
        PeakDataset(x, np.ones((3, 50)), mutate_augment=1.0)


@pytest.mark.parametrize("both_strands", [True, False])
def test_first_block_path_equals_forward(both_strands):
    torch.manual_seed(0)
    model = SeqCNN(n_cells=5, seq_len=60, n_filters=8, both_strands=both_strands).eval()
    x = torch.as_tensor(one_hot(["ACGT" * 15, "GGCA" * 15, "TTAC" * 15]))
    with torch.no_grad():
        via = model.from_first_block(model.first_block(model.strands(x)))
        torch.testing.assert_close(via, model(x))


def test_training_steps_read_one_strand_evaluation_both():
    torch.manual_seed(0)
    x = torch.as_tensor(one_hot(["ACGTTGCAAC" * 6, "AAAACCCCGG" * 6]))
    batch = {"x": x, "y": torch.zeros(2, 3)}
    model = SeqCNN(n_cells=3, seq_len=60, n_filters=8, dropout=0.0)
    model.eval()
    one = torch.nn.functional.binary_cross_entropy_with_logits(
        model.cells(model.embed(x)), batch["y"]
    )
    both = torch.nn.functional.binary_cross_entropy_with_logits(model(x), batch["y"])
    torch.testing.assert_close(model.loss(batch)["loss"], both)  # eval: strand average
    assert not torch.allclose(one, both)
    # train mode: one strand per step (BatchNorm then uses batch statistics, so compare
    # against the same computation rather than the eval numbers)
    model.train()
    torch.manual_seed(1)
    got = model.loss(batch)["loss"]
    torch.manual_seed(1)
    want = torch.nn.functional.binary_cross_entropy_with_logits(
        model.cells(model.embed(x)), batch["y"]
    )
    torch.testing.assert_close(got, want)
    twin = SeqCNN(n_cells=3, seq_len=60, n_filters=8, dropout=0.0, train_both_strands=True)
    twin.load_state_dict(model.state_dict())
    twin.train()
    torch.manual_seed(1)
    torch.testing.assert_close(
        twin.loss(batch)["loss"],
        torch.nn.functional.binary_cross_entropy_with_logits(twin(x), batch["y"]),
    )
