# Post-hoc attribution (Captum) of every trained classifier and program VAE, per method;
rule attribute:
    input:
        model="results/{dataset}/models/{model}/model.pt",
        meta="results/{dataset}/models/{model}/model.json",
        normalized="results/{dataset}/normalized.h5ad",
        gene_sets=gene_sets_input,
    output:
        h5ad="results/{dataset}/attribution/{model}/{method}.h5ad",
    log:
        "logs/{dataset}/attribute/{model}/{method}.log",
    benchmark:
        "results/{dataset}/benchmarks/attribute/{model}/{method}.tsv"
    wildcard_constraints:
        model="|".join(ATTRIBUTED_MODELS),
        method="|".join(ATTRIBUTION_METHODS),
    conda:
        "../../envs/torch.yaml"
    threads: attribute_threads
    resources:
        gpu=1,
        mem_mb=mem_mb(4000, 50),
        runtime=runtime(120),
    params:
        attribution=ATTRIBUTION_OPTIONS,
        seed=config["train"]["seed"],
        device=config["train"]["device"],
    script:
        "../../scripts/attribute.py"


rule attribution_sanity:
    input:
        attribution_sanity_inputs,
    output:
        tsv=report(
            "results/{dataset}/attribution/sanity.tsv",
            caption="../report/attribution_sanity.rst",
            category="4. Attribution",
            subcategory="{dataset}",
            labels={"figure": "sanity checks (table)"},
        ),
        png=report(
            "results/{dataset}/attribution/sanity.png",
            caption="../report/attribution_sanity.rst",
            category="4. Attribution",
            subcategory="{dataset}",
            labels={"figure": "sanity checks"},
        ),
    log:
        "logs/{dataset}/attribution_sanity.log",
    benchmark:
        "results/{dataset}/benchmarks/attribution_sanity.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(4000),
        runtime=runtime(20),
    script:
        "../../scripts/attribution_sanity.py"
