# Branch (iii), gene regulatory networks (workflow/rules/grn.smk; declared in
# scinterp/interpret/grn/_branch.py): our edges (the network model's adjacency,
# integrated gradients, consensus; the model is the first trained one providing a
# network, grn_sem) and the peers (GRNBoost2, RegDiffusion, absolute Spearman, within-type
# absolute Spearman), each its own rule so that each one's runtime is benchmarked;
# evaluated when the dataset has a grn_reference. Its config, inputs and targets.
GRN = config["branches"]["grn"]


def grn_enabled(dataset):
    return branch_on("grn", dataset)


def grn_model(dataset):
    """The network model the branch reads (grn_sem)."""
    return branch_model("grn", dataset)


# the peers switched on in the config, each its own rule writing grn/{peer}.tsv (the
# names of scinterp.interpret.grn.peers.PEERS)
_PEER_SWITCHES = ("grnboost2", "regdiffusion", "spearman", "within_type_spearman")
GRN_PEERS = [p for p in _PEER_SWITCHES if GRN[p]]


def grn_members(dataset):
    """model.pt of the network model's further ensemble members (branches.grn.ensemble)."""
    return ensemble_members(dataset, grn_model(dataset), GRN["ensemble"])


def grn_members_input(wildcards):
    return grn_members(wildcards.dataset)


def grn_edge_files(wildcards):
    return [f"results/{wildcards.dataset}/grn/edges.tsv"] + [
        f"results/{wildcards.dataset}/grn/{p}.tsv" for p in GRN_PEERS
    ]


def grn_benchmark_files(wildcards):
    """Each network's job benchmarks (ours: training the network model and infer_grn),
    for the runtime column of grn/metrics.tsv."""
    d = wildcards.dataset
    model = grn_model(d)
    # the members train in one job (rule train_members_<model>)
    members = (
        [f"results/{d}/benchmarks/train_members/{model}.tsv"] if grn_members(d) else []
    )
    return (
        [f"results/{d}/benchmarks/train_model/{model}.tsv"]
        + members
        + [f"results/{d}/benchmarks/infer_grn.tsv"]
        + [f"results/{d}/benchmarks/{p}.tsv" for p in GRN_PEERS]
    )


def grn_reference_input(wildcards):
    return DATASETS[wildcards.dataset]["grn_reference"]


def grn_figures_inputs(wildcards):
    inputs = {"edges": f"results/{wildcards.dataset}/grn/edges.tsv"}
    if DATASETS[wildcards.dataset].get("grn_reference"):
        inputs["reference"] = grn_reference_input(wildcards)
    return inputs


def grn_targets(dataset):
    if not grn_enabled(dataset):
        return []
    out = [
        f"results/{dataset}/grn/{f}"
        for f in ("edges.tsv", "top_regulators.tsv", "network.png")
    ]
    out += [f"results/{dataset}/grn/{p}.tsv" for p in GRN_PEERS]
    if DATASETS[dataset].get("grn_reference"):
        out += [
            f"results/{dataset}/grn/{f}"
            for f in ("metrics.tsv", "precision_recall.png")
        ]
    return out


TARGETS.append(grn_targets)
