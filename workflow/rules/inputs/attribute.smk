# Config, inputs and targets of rules attribute and attribution_sanity
# (workflow/rules/attribute.smk). The identity branch reads attributed_models and
# ATTRIBUTION_METHODS too.

# The models whose spec says attributed=True; grn_sem and seq_cnn are attributed by
# their own branches.
ATTRIBUTED_MODELS = tuple(model_names(attributed=True))
ATTRIBUTION_METHODS = config["attribution"]["methods"]
# every registered method: the schema's enum (tests keep it equal to
# scinterp.attribution.METHODS, which would import torch when the workflow is parsed)
KNOWN_ATTRIBUTION_METHODS = SCHEMA_DOC["properties"]["attribution"]["properties"]["methods"][
    "items"
]["enum"]
# attribute's params: the attribution section without its list of methods (a job's
# method is its {method} wildcard), so adding a method does not rerun the others' jobs
ATTRIBUTION_OPTIONS = {k: v for k, v in config["attribution"].items() if k != "methods"}


def attribute_threads(wildcards):
    """CPU threads of an attribute job: the model spec's attribute_threads."""
    return model_spec(wildcards.model).attribute_threads


def attributed_models(dataset):
    return [m for m in models_of(dataset) if m in ATTRIBUTED_MODELS]


def attribution_files(dataset):
    return [
        f"results/{dataset}/attribution/{m}/{k}.h5ad"
        for m in attributed_models(dataset)
        for k in ATTRIBUTION_METHODS
    ]


def attribution_sanity_inputs(wildcards):
    return attribution_files(wildcards.dataset)


def attribute_targets(dataset):
    files = attribution_files(dataset)
    if not files:
        return []
    return files + [
        f"results/{dataset}/attribution/sanity.tsv",
        f"results/{dataset}/attribution/sanity.png",
    ]


TARGETS.append(attribute_targets)
