"""Motif branch library: attributions -> motifs -> JASPAR names -> TF activity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from torch import nn

from scinterp.data.sequences import dinucleotide_shuffle, one_hot
from scinterp.errors import ScinterpInputError
from scinterp.interpret import motifs as M
from scinterp.interpret.motifs._motif import _normalize

# Two JASPAR2024 matrices planted below: distinct, information-rich.
SPI1, GATA1 = "MA0080.7", "MA0035.5"


@pytest.fixture(scope="module")
def jaspar():
    """JASPAR2024 CORE vertebrates from pyjaspar's bundled database (offline)."""
    return M.load_motif_database("JASPAR2024")


@pytest.fixture(scope="module")
def planted(jaspar):
    """300 random 200 bp sequences; half carry SPI1 sites, half GATA1 sites."""
    by_id = {d.id: d for d in jaspar}
    rng = np.random.default_rng(0)
    n, length = 300, 200
    tokens = rng.choice(4, size=(n, length), p=[0.29, 0.21, 0.21, 0.29])
    which = np.arange(n) % 2
    for i in range(n):
        ppm = by_id[(SPI1, GATA1)[which[i]]].ppm
        w = ppm.shape[1]
        for off in rng.choice(np.arange(10, length - w - 10, w + 5), size=2, replace=False):
            site = np.array([rng.choice(4, p=ppm[:, j]) for j in range(w)])
            if rng.random() < 0.5:
                site = 3 - site[::-1]
            tokens[i, off : off + w] = site
    onehot = (tokens[:, None, :] == np.arange(4)[None, :, None]).astype(np.float32)
    return onehot, which, [by_id[SPI1], by_id[GATA1]]


class PWMScanner(nn.Module):
    """A 'trained model' with known motifs: one output per PWM, max over both strands."""

    def __init__(self, ppms):
        super().__init__()
        w = max(p.shape[1] for p in ppms)
        kernels = []
        for p in ppms:
            lo = np.log2(np.clip(p, 0.01, 1) / 0.25)
            lo = np.pad(lo, ((0, 0), (0, w - lo.shape[1])))
            kernels += [lo, lo[::-1, ::-1]]
        self.conv = nn.Conv1d(4, len(kernels), w, bias=False)
        self.conv.weight.data = torch.tensor(np.stack(kernels).copy(), dtype=torch.float32)
        self.bias = nn.Parameter(torch.full((len(kernels),), -8.0))
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveMaxPool1d(1)

    def forward(self, x):
        h = self.pool(self.relu(self.conv(x) + self.bias[None, :, None])).squeeze(-1)
        return h.reshape(len(x), -1, 2).max(dim=2).values  # (batch, n_motifs)


# --------------------------------------------------------------------- motif objects


def test_meme_roundtrip_keeps_names_and_sites(tmp_path):
    ppm = _normalize(np.random.default_rng(0).random((4, 8)))
    motifs = [M.LearnedMotif("modisco_0", "modisco", ppm, 42)]
    M.write_learned_meme(tmp_path / "m.meme", motifs, {"modisco_0": "SPI1"})
    ((mid, name, back, nsites),) = M.read_meme(tmp_path / "m.meme", with_nsites=True)
    assert (mid, name, nsites) == ("modisco_0", "SPI1", 42)
    np.testing.assert_allclose(back, ppm, atol=1e-5)
    assert M.learned_from_meme(tmp_path / "m.meme", "filters")[0].n_seqlets == 42


def test_consensus_information_and_trim():
    ppm = np.full((4, 10), 0.25)
    ppm[:, 3:7] = np.eye(4)  # ACGT in the middle, flat flanks
    assert M.consensus(ppm)[3:7] == "ACGT"
    ic = M.information_content(ppm)
    assert ic[3:7] == pytest.approx([2, 2, 2, 2], abs=1e-6) and ic[0] == pytest.approx(0)
    assert M.trim_motif(ppm) == (3, 7)


def test_motif_database_errors(tmp_path):
    with pytest.raises(ScinterpInputError, match="JASPAR1999"):
        M.load_motif_database("JASPAR1999", dataset="d")
    empty = tmp_path / "empty.meme"
    empty.write_text("MEME version 4\n")
    with pytest.raises(ScinterpInputError, match="no motifs"):
        M.load_motif_database(str(empty))


def test_jaspar_ships_offline(jaspar):
    by_id = {d.id: d for d in jaspar}
    assert len(jaspar) > 500
    assert by_id[SPI1].name.upper() == "SPI1" and "Ets" in by_id[SPI1].family
    assert np.allclose(by_id[SPI1].ppm.sum(axis=0), 1)


# ------------------------------------------------------------------ peak selection


def test_select_peaks_and_contrast_weights():
    labels = np.array(["a"] * 10 + ["b"] * 10 + [None] * 2, dtype=object)
    acc = np.zeros((22, 6))
    acc[:10, [0, 1]] = 1  # open in a
    acc[10:20, [2]] = 1  # open in b
    acc[:, 5] = 1  # open everywhere
    chosen = M.select_peaks(sp.csr_matrix(acc), labels, n_per_type=2)
    assert set(chosen.loc[chosen.cell_type == "a", "peak_idx"]) == {0, 1}
    assert chosen.loc[chosen.cell_type == "b", "peak_idx"].iloc[0] == 2
    w = M.type_contrast_weights(labels, ["a", "b"])
    assert w.shape == (22, 2) and np.allclose(w.sum(axis=0), 0, atol=1e-6)
    assert np.all(w[20:] == 0)  # unlabelled cells take no part


# ----------------------------------------------------------- attributions and motifs


@pytest.mark.parametrize("method", ["deeplift", "integrated_gradients"])
def test_hypothetical_contributions_peak_at_the_planted_sites(planted, method):
    onehot, which, dbm = planted
    model = PWMScanner([d.ppm for d in dbm]).eval()
    x, tgt = onehot[:20], which[:20]
    hyp = M.hypothetical_contributions(
        model, x, tgt, np.eye(2, dtype=np.float32), method=method, n_refs=4, n_steps=8
    )
    assert hyp.shape == x.shape and np.isfinite(hyp).all()
    actual = (hyp * x).sum(axis=1)  # (n, L)
    with torch.no_grad():
        out = model(torch.as_tensor(x)).numpy()[np.arange(len(x)), tgt]
    assert np.corrcoef(actual.sum(axis=1), out)[0, 1] > 0.9
    # the strongest position lies in a strong site of the target motif (a planted one)
    with torch.no_grad():
        conv = model.conv(torch.as_tensor(x)).numpy()
    w = model.conv.kernel_size[0]
    for i in range(len(x)):
        score = conv[i, 2 * tgt[i] : 2 * tgt[i] + 2].max(axis=0)
        strong = np.flatnonzero(score >= 0.5 * score.max())
        top = np.abs(actual[i]).argmax()
        assert any(p <= top < p + w for p in strong)


@pytest.mark.parametrize("method", M.HYPOTHETICAL_METHODS)
def test_hypothetical_contributions_go_through_the_attribution_registry(
    planted, method, monkeypatch
):
    """Each motif method is a registered attribution method: a spy put in its place in
    the registry sees every pass (one per batch of sequences and their references) and
    the contributions are its attributions."""
    from scinterp.attribution import core

    onehot, which, dbm = planted
    model = PWMScanner([d.ppm for d in dbm]).eval()
    x, tgt, w = onehot[:10], which[:10], np.eye(2, dtype=np.float32)
    kw = {"method": method, "n_refs": 3, "n_steps": 4, "batch_size": 4}
    before = M.hypothetical_contributions(model, x, tgt, w, **kw)
    name = M.ATTRIBUTION_METHOD[method]
    passes = []

    class Spy(core.METHOD_CLASSES[name]):
        def __call__(self, x, target, baseline, delta=False):
            passes.append((x.shape[0], baseline.shape[0]))
            return super().__call__(x, target, baseline, delta)

    monkeypatch.setitem(core.METHOD_CLASSES, name, Spy)
    np.testing.assert_array_equal(M.hypothetical_contributions(model, x, tgt, w, **kw), before)
    if method == "gradient":
        assert passes == [(4, 1), (4, 1), (2, 1)]  # no references
    elif method == "deeplift":
        assert passes == [(12, 12), (12, 12), (6, 6)]  # 4 sequences x 3 shuffles
    else:  # 4 steps x 3 shuffles = 12 rows per sequence: one sequence per pass
        assert passes == [(3, 3)] * 10


def test_modisco_recovers_planted_motifs_and_tomtom_names_them(planted, jaspar):
    onehot, which, dbm = planted
    model = PWMScanner([d.ppm for d in dbm]).eval()
    hyp = M.hypothetical_contributions(
        model, onehot, which, np.eye(2, dtype=np.float32), method="deeplift", n_refs=5
    )
    types = np.where(which == 0, "mono", "ery")
    learned = M.modisco_motifs(
        onehot,
        hyp,
        cell_types=types,
        min_metacluster_size=20,
        final_min_cluster_size=10,
        n_leiden_runs=2,
        seed=0,
    )
    table = M.motif_table(M.match_motifs(learned, jaspar))
    named = table[table["matched"]]
    assert {"SPI1", "GATA1"} <= set(named["match_name"].str.upper())
    spi1 = named[named["match_name"].str.upper() == "SPI1"].iloc[0]
    assert spi1["qvalue"] < 0.05 and spi1["cell_type"] == "mono"
    assert list(table.columns[:6]) == [
        "motif",
        "consensus",
        "n_seqlets",
        "match_id",
        "match_name",
        "qvalue",
    ]


def test_filter_motifs_read_a_planted_filter(planted):
    from scinterp.models.seqcnn import SeqCNN

    onehot, _, dbm = planted
    model = SeqCNN(n_cells=3, seq_len=200, n_filters=4, filter_width=15, activation="relu")
    ppm = dbm[0].ppm  # SPI1, 13+ bp
    lo = np.log2(np.clip(ppm, 0.01, 1) / 0.25)[:, :15]
    lo = np.pad(lo, ((0, 0), (0, 15 - lo.shape[1])))
    with torch.no_grad():
        model.conv[0][0].weight.zero_()
        model.conv[0][0].weight[0] = torch.as_tensor(lo, dtype=torch.float32)
    motifs = M.filter_motifs(model.eval(), onehot, min_sites=5, min_ic=2.0)
    assert motifs and motifs[0].motif == "filter_0"
    # the filter reads back as SPI1's GGAA core (on the strand it was planted)
    assert "GAGGAAGT" in motifs[0].consensus


def _spi1_filter_model(ppm, n_filters=4, width=15):
    """SeqCNN whose filter 0 is SPI1's log-odds PWM and whose other filters are all zero."""
    from scinterp.models.seqcnn import SeqCNN

    torch.manual_seed(0)
    model = SeqCNN(n_cells=3, seq_len=200, n_filters=n_filters, filter_width=width)
    lo = np.log2(np.clip(ppm, 0.01, 1) / 0.25)[:, :width]
    lo = np.pad(lo, ((0, 0), (0, width - lo.shape[1])))
    with torch.no_grad():
        model.conv[0][0].weight.zero_()
        model.conv[0][0].weight[0] = torch.as_tensor(lo, dtype=torch.float32)
    return model.eval()


def test_filter_influence_is_zero_for_filters_that_see_nothing(planted):
    onehot, which, dbm = planted
    model = _spi1_filter_model(dbm[0].ppm)
    w = M.type_contrast_weights(["a", "a", "b"], ["a", "b"])
    infl = M.filter_influence(model, onehot[:60], w, batch_size=16)
    assert infl.shape == (4,)
    # the all-zero filters are constant: replacing them by their mean changes nothing
    assert infl[0] > 0 and np.allclose(infl[1:], 0.0, atol=1e-9 * infl[0])
    # the same without output weights (mean over cells), and batching does not matter
    raw = M.filter_influence(model, onehot[:60], None, batch_size=64)
    assert raw[0] > 0 and np.allclose(raw[1:], 0.0, atol=1e-9 * raw[0])
    np.testing.assert_allclose(
        infl, M.filter_influence(model, onehot[:60], w, batch_size=60), rtol=1e-4
    )


def test_filter_motifs_keep_only_influential_filters(planted):
    onehot, which, dbm = planted
    model = _spi1_filter_model(dbm[0].ppm)
    # filter 1 reads GATA1 too, but the filter is declared uninfluential
    lo = np.log2(np.clip(dbm[1].ppm, 0.01, 1) / 0.25)[:, :15]
    with torch.no_grad():
        model.conv[0][0].weight[1, :, : lo.shape[1]] = torch.as_tensor(lo, dtype=torch.float32)
    both = M.filter_motifs(model, onehot, min_sites=5, min_ic=2.0)
    assert {m.motif for m in both} == {"filter_0", "filter_1"}
    infl = np.array([1.0, 0.05, 0.0, 0.0])
    kept = M.filter_motifs(
        model, onehot, min_sites=5, min_ic=2.0, influence=infl, min_influence=0.1, influence_z=None
    )
    assert [m.motif for m in kept] == ["filter_0"]
    with pytest.raises(ValueError, match="one value per filter"):
        M.filter_motifs(model, onehot, influence=np.ones(3), min_influence=0.1)
    labels = np.array(["a", "b", "a"], dtype=object)
    auto = M.influential_filter_motifs(
        model,
        onehot,
        np.arange(60),
        labels,
        min_influence=0.0,
        influence_z=None,
        min_sites=5,
        min_ic=2.0,
    )
    assert {m.motif for m in auto} == {"filter_0", "filter_1"}
    # the outlier rule: filter 1 is above the largest's 10% but within the bulk
    infl = np.array([1.0, 0.2, 0.15, 0.18])
    kw = dict(min_sites=5, min_ic=2.0, influence=infl, min_influence=0.1)
    without_z = M.filter_motifs(model, onehot, influence_z=None, **kw)
    assert {m.motif for m in without_z} == {"filter_0", "filter_1"}
    assert [m.motif for m in M.filter_motifs(model, onehot, influence_z=3.5, **kw)] == ["filter_0"]


def test_robust_z_flags_outliers_above_a_bulk():
    rng = np.random.default_rng(0)
    bulk = rng.normal(0.1, 0.02, size=60)
    z = M.robust_z(np.r_[bulk, 0.5, 0.9])
    assert (z[-2:] > 10).all()
    assert (z[:-2] < 3.5).all()
    assert np.array_equal(M.robust_z(np.ones(5)), np.zeros(5))
    # more than half equal (MAD 0): the mean absolute deviation stands in
    assert np.isfinite(M.robust_z(np.r_[np.zeros(6), 1.0])).all()


# ---------------------------------------------------------------------- TF activity


class TypeResponder(nn.Module):
    """Cells 0-4 open where the SPI1 scanner fires, cells 5-9 do not care."""

    def __init__(self, scanner):
        super().__init__()
        self.scanner = scanner

    def forward(self, x):
        s = self.scanner(x)[:, :1]
        return torch.cat([s.repeat(1, 5), torch.zeros(len(x), 5)], dim=1)


def test_insertion_activity_ranks_the_responding_cells_first(planted):
    onehot, _, dbm = planted
    model = TypeResponder(PWMScanner([dbm[0].ppm])).eval()
    bg = dinucleotide_shuffle(onehot[:40], 0)
    act = M.insertion_activity(model, bg, {"spi1": dbm[0].ppm, "gata1": dbm[1].ppm}, mode="sample")
    assert act.shape == (10, 2)
    assert act["spi1"].iloc[:5].min() > act["spi1"].iloc[5:].max()
    per_type = M.aggregate_by_type(act, ["on"] * 5 + ["off"] * 5, "insertion")
    top = per_type[per_type.motif == "spi1"].sort_values("score").iloc[-1]
    assert top["cell_type"] == "on"


def test_chromvar_deviations_follow_motif_peaks(planted):
    onehot, which, dbm = planted
    rng = np.random.default_rng(0)
    # cells 0-29 open the SPI1 peaks, cells 30-59 the GATA1 peaks, plus noise
    labels = np.array(["mono"] * 30 + ["ery"] * 30)
    p = np.where((labels[:, None] == "mono") == (which[None, :] == 0), 0.5, 0.1)
    acc = sp.csr_matrix((rng.random(p.shape) < p).astype(np.float32))
    z = M.chromvar_deviations(acc, onehot, {"spi1": dbm[0].ppm}, n_backgrounds=20, seed=0)
    assert z["spi1"].iloc[:30].mean() > 2 > z["spi1"].iloc[30:].mean()


def test_tf_activity_tables(planted):
    onehot, which, dbm = planted
    model = TypeResponder(PWMScanner([dbm[0].ppm])).eval()
    labels = np.array(["on"] * 5 + ["off"] * 5, dtype=object)
    acc = sp.csr_matrix(np.ones((10, len(onehot)), dtype=np.float32))
    per_type, per_cell = M.tf_activity(
        model,
        onehot,
        acc,
        labels,
        [f"c{i}" for i in range(10)],
        {"m0": dbm[0].ppm},
        n_background=30,
        chromvar_backgrounds=5,
    )
    assert set(per_cell) == {"insertion", "chromvar"}
    assert list(per_type.columns) == ["cell_type", "motif", "score", "method"]
    table = pd.DataFrame(
        {"motif": ["m0"], "match_name": ["SPI1"], "match_id": [SPI1], "method": ["modisco"]}
    )
    tsv = M.annotate_activity(per_type, table)
    assert tsv["method"].iloc[0] == "insertion" and tsv["cell_type"].iloc[0] == "on"
    assert (tsv["tf"] == "SPI1").all()
    adata = M.activity_anndata(per_cell, labels, table)
    assert adata.shape == (10, 1) and set(adata.layers) == {"insertion", "chromvar"}


def test_one_hot_of_consensus_inserts_the_motif():
    ppm = np.eye(4)[:, [0, 1, 2, 3, 0]]
    assert M.consensus(ppm) == "ACGTA"
    assert (one_hot("ACGTA") == ppm).all()


def test_load_sequence_model_checks_cells_and_labels(tmp_path):
    """The labels come from normalized.h5ad by cell name (the model trains on the ATAC
    file alone): unlabelled or missing cells get None, and no labels at all is an error."""
    import anndata as ad

    from scinterp.models.registry import build_model, save_model

    init = {"n_cells": 3, "seq_len": 60}
    cells = ["a", "b", "c"]
    atac = ad.AnnData(X=np.zeros((3, 2), np.float32), obs=pd.DataFrame(index=cells))
    save_model(build_model("seq_cnn", **init), tmp_path / "m", "seq_cnn", init, {"cells": cells})
    rna = ad.AnnData(
        X=np.zeros((3, 2), np.float32),
        obs=pd.DataFrame({"type": ["B", "T", "x"]}, index=["c", "a", "z"]),
        uns={"scinterp": {"label_key": "type"}},
    )
    rna.write_h5ad(tmp_path / "normalized.h5ad")
    model, labels = M.load_sequence_model(
        tmp_path / "m", atac, normalized=tmp_path / "normalized.h5ad", dataset="d"
    )
    assert list(labels) == ["T", None, "B"] and not model.training
    with pytest.raises(ScinterpInputError, match="delete the seq_cnn model"):
        M.load_sequence_model(tmp_path / "m", atac[[2, 1, 0]], dataset="d")
    with pytest.raises(ScinterpInputError, match="no cell-type labels"):
        M.load_sequence_model(tmp_path / "m", atac, dataset="d")
    rna.uns = {}
    rna.write_h5ad(tmp_path / "unlabelled.h5ad")
    with pytest.raises(ScinterpInputError, match="no cell-type labels"):
        M.load_sequence_model(tmp_path / "m", atac, normalized=tmp_path / "unlabelled.h5ad")


def test_flat_noise_motifs_are_not_named(jaspar):
    """Near-uniform matrices (a model that learned nothing) get no JASPAR name."""
    rng = np.random.default_rng(0)
    noise = []
    for k, (w, n) in enumerate([(12, 300), (17, 2000), (28, 500)]):
        tok = rng.integers(0, 4, (n, w))
        ppm = np.stack([(tok == b).mean(0) for b in range(4)])
        noise.append(M.LearnedMotif(f"noise_{k}", "filters", _normalize(ppm + 0.01), n))
    spi1 = next(d for d in jaspar if d.id == SPI1)
    real = M.LearnedMotif(
        "real", "modisco", np.pad(spi1.ppm, ((0, 0), (3, 3)), constant_values=0.25), 50
    )
    table = M.motif_table(M.match_motifs(noise + [real], jaspar))
    assert not table["matched"].iloc[:3].any() and not table["informative"].iloc[:3].any()
    assert table["matched"].iloc[3] and table["match_id"].iloc[3] == SPI1
    start, stop = M.informative_core(real.ppm)  # the uniform padding is trimmed off
    assert 3 <= start < stop <= 3 + spi1.ppm.shape[1]


def test_diluted_modisco_motif_is_named_but_a_diluted_filter_is_not(jaspar):
    """A TF-MoDISco motif (backed by seqlets) needs 0.5-bit core columns, a filter 1 bit."""
    spi1 = next(d for d in jaspar if d.id == SPI1)
    diluted = _normalize(0.75 * spi1.ppm + 0.25 * 0.25)  # aligned with jitter: flatter
    assert M.informative_core(diluted) is None
    motifs = [
        M.LearnedMotif("mod", "modisco", diluted, 50),
        M.LearnedMotif("filt", "filters", diluted, 50),
    ]
    table = M.motif_table(M.match_motifs(motifs, jaspar)).set_index("motif")
    assert table.loc["mod", "matched"] and table.loc["mod", "match_id"] == SPI1
    assert not table.loc["filt", "informative"] and not table.loc["filt", "matched"]
    strict = M.match_motifs(motifs, jaspar, strong_ic=1.0)
    assert not strict["informative"].any()


def test_matching_asks_numba_for_no_more_threads_than_it_has(jaspar):
    """A job's threads above NUMBA_NUM_THREADS (a cluster's environment; the tests set 1)
    used to raise inside tomtom; the same table comes back."""
    import numba

    spi1 = next(d for d in jaspar if d.id == SPI1)
    motifs = [M.LearnedMotif("m", "modisco", spi1.ppm, 50)]
    one = M.match_motifs(motifs, jaspar, n_jobs=1)
    many = M.match_motifs(motifs, jaspar, n_jobs=numba.config.NUMBA_NUM_THREADS + 3)
    pd.testing.assert_frame_equal(one, many)
    assert many.loc[0, "match_id"] == SPI1
