# Branch (v), conditions (workflow/rules/conditions.smk; declared in
# scinterp/interpret/conditions/_branch.py): what changes between conditions, per cell
# type, with the sample (donor) as the unit. Its config, inputs and targets. The design
# (sample_key, condition_key, reference, contrasts) is checked before any job by
# scinterp.config (_check_conditions); a design without 2 samples on both sides of any
# contrast is no error: the branch is skipped and run/skipped.tsv says why.
from scinterp.config import DatasetInput, is_rna_h5ad
from scinterp.interpret.conditions._branch import design_skip, read_design
from scinterp.interpret.conditions._options import ConditionsOptions

CONDITIONS = config["branches"]["conditions"]
# the keys of branches.conditions that are scinterp.interpret.conditions.ConditionsOptions:
# all but the workflow's own, ConditionsOptions.WORKFLOW_KEYS (tests/interpret/
# test_options.py: the schema's keys and defaults are the dataclass's)
CONDITIONS_OPTIONS = tuple(k for k in CONDITIONS if k not in ConditionsOptions.WORKFLOW_KEYS)


def _conditions_skip(dataset):
    """Why the dataset's design cannot be tested (no contrast with 2 samples per side),
    None when it can, or cannot be read yet (the demo, which simulate_demo writes)."""
    ds = DATASETS[dataset]
    rna = ds.get("rna")
    if not (ds.get("condition_key") and ds.get("sample_key") and CONDITIONS["enabled"]):
        return None
    if not rna or not Path(rna).exists() or not is_rna_h5ad(rna) or _made_by_a_rule(rna):
        return None
    try:
        return design_skip(
            read_design(DatasetInput(dataset, ds)),
            ds,
            min_samples=CONDITIONS["min_samples"],
            dataset=dataset,
            path=rna,
        )
    except (ScinterpInputError, KeyError):  # reported by the config check
        return None


for _ds in DATASETS:
    _why = _conditions_skip(_ds)
    if _why:
        SKIPPED[_ds]["branch conditions"] = _why


def conditions_inputs(wildcards):
    d = wildcards.dataset
    inputs = {"normalized": f"results/{d}/normalized.h5ad"}
    if branch_on("programs", d):  # per-cell program activity -> conditions/programs.tsv
        inputs["programs"] = f"results/{d}/programs/cell_activity.h5ad"
    return inputs


def conditions_truth_input(wildcards):
    return str(Path(DATASETS[wildcards.dataset]["truth"]) / "conditions_genes.tsv")


def conditions_design(wildcards):
    ds = DATASETS[wildcards.dataset]
    return {k: ds.get(k) for k in ("sample_key", "condition_key", "reference", "contrasts")}


def conditions_targets(dataset):
    if not branch_on("conditions", dataset):
        return []
    out = [
        f"results/{dataset}/conditions/{name}"
        for name in (
            "genes.tsv",
            "programs.tsv",
            "celltypes.tsv",
            "abundance.tsv",
            "skipped.tsv",
            "volcano.png",
            "heatmap.png",
            "abundance.png",
        )
    ]
    truth = DATASETS[dataset].get("truth")
    if truth:
        path = Path(truth) / "conditions_genes.tsv"
        if path.exists() or _made_by_a_rule(path):
            out.append(f"results/{dataset}/conditions/evaluation.tsv")
    return out


TARGETS.append(conditions_targets)


#: normalized.h5ad size (GiB) from which test_conditions takes CONDITIONS_ATLAS_THREADS
CONDITIONS_ATLAS_GIB = 1.0
CONDITIONS_ATLAS_THREADS = 8


def conditions_threads(wildcards, input):
    """Threads of test_conditions: 1 for a dataset whose normalized.h5ad is below
    CONDITIONS_ATLAS_GIB (the demo and the generalization datasets: 41 s on 1 thread,
    a second one only spins), else CONDITIONS_ATLAS_THREADS, which Snakemake lowers to
    --cores: an atlas's pydeseq2 fits (per cell type, whatever the number of cells), count
    sums and classifier permutations all split over the job's threads. Evaluated again
    when the job starts (its input made): before, it reads 1."""
    try:
        size = input_gib([input.normalized])
    except (OSError, AttributeError):
        return 1
    return CONDITIONS_ATLAS_THREADS if size >= CONDITIONS_ATLAS_GIB else 1
