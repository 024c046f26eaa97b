# Params and targets of rule normalize (workflow/rules/normalize.smk).


def normalize_params():
    """The normalize section as the rule's params. normalize_total is left out at its
    default (true): it came later, and params are a rerun trigger, so listing it would
    redo every normalized.h5ad made before it (and all that follows) for nothing."""
    params = dict(config["normalize"])
    if params.get("normalize_total", True):
        params.pop("normalize_total", None)
    return params


def normalize_targets(dataset):
    return [f"results/{dataset}/normalized.h5ad"]


TARGETS.append(normalize_targets)
