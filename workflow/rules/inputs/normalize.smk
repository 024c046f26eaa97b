# Params and targets of rule normalize (workflow/rules/normalize.smk).


def normalize_params():
    """The normalize section as the rule's params. normalize_total is left out at its
    default (true): it came later, and params are a rerun trigger, so listing it would
    redo every normalized.h5ad made before it (and all that follows) for nothing."""
    params = dict(config["normalize"])
    if params.get("normalize_total", True):
        params.pop("normalize_total", None)
    return params


# summary_inputs' names of integration_outputs' files, in their order
INTEGRATION_KEYS = ("integration", "integration_umap", "integration_warnings")


def integration_outputs(dataset):
    """With a batch_key: the integration's metrics, figure and warnings, else none."""
    if DATASETS[dataset].get("batch_key") is None:
        return []
    r = f"results/{dataset}/normalize"
    return [
        f"{r}/integration.tsv",
        f"{r}/integration.png",
        f"{r}/integration_warnings.txt",
    ]


def normalize_targets(dataset):
    return [f"results/{dataset}/normalized.h5ad"] + integration_outputs(dataset)


TARGETS.append(normalize_targets)
