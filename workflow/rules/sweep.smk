# Parameter sweeps (Paramspace): every point of sweep.table trains the sweep's model,
# attributes it and ranks identity genes; sweep_summary compares the points.
# Only defined when sweep.table is set (workflow/rules/inputs/sweep.smk reads the table).
if SWEEP_SPACE is not None:

    rule sweep_train:
        input:
            normalized="results/{dataset}/normalized.h5ad",
            gene_sets=gene_sets_input,
        output:
            model="results/{dataset}/sweep/{params}/model/model.pt",
            meta="results/{dataset}/sweep/{params}/model/model.json",
            history="results/{dataset}/sweep/{params}/model/history.tsv",
        log:
            "logs/{dataset}/sweep/{params}/sweep_train.log",
        benchmark:
            "results/{dataset}/benchmarks/sweep/{params}/sweep_train.tsv"
        wildcard_constraints:
            params="[^/]+",
        conda:
            "../../envs/torch.yaml"
        threads: model_spec(SWEEP["model"]).threads
        resources:
            gpu=1,
            mem_mb=mem_mb(4000, 300),
            runtime=runtime(240, 5),
        params:
            dataset="{dataset}",
            model=SWEEP["model"],
            point=sweep_point,
            batch_key=ds_param("batch_key"),
            train=config["train"],
            attribution=config["attribution"],
        script:
            "../../scripts/sweep_train.py"

    rule sweep_attribute:
        input:
            model="results/{dataset}/sweep/{params}/model/model.pt",
            meta="results/{dataset}/sweep/{params}/model/model.json",
            normalized="results/{dataset}/normalized.h5ad",
            gene_sets=gene_sets_input,
        output:
            h5ad="results/{dataset}/sweep/{params}/attribution/{method}.h5ad",
        log:
            "logs/{dataset}/sweep/{params}/sweep_attribute_{method}.log",
        benchmark:
            "results/{dataset}/benchmarks/sweep/{params}/sweep_attribute_{method}.tsv"
        wildcard_constraints:
            params="[^/]+",
            method="|".join(SWEEP["methods"]),
        conda:
            "../../envs/torch.yaml"
        threads: 2
        resources:
            gpu=1,
            mem_mb=mem_mb(4000, 50),
            runtime=runtime(120),
        params:
            point=sweep_point,
            train=config["train"],
            attribution=config["attribution"],
        script:
            "../../scripts/sweep_attribute.py"

    rule sweep_identity:
        input:
            unpack(sweep_identity_inputs),
        output:
            genes="results/{dataset}/sweep/{params}/identity/genes.tsv",
        log:
            "logs/{dataset}/sweep/{params}/sweep_identity.log",
        benchmark:
            "results/{dataset}/benchmarks/sweep/{params}/sweep_identity.tsv"
        wildcard_constraints:
            params="[^/]+",
        conda:
            "../../envs/torch.yaml"
        threads: 2
        resources:
            mem_mb=mem_mb(4000, 1000),
            runtime=runtime(60, 5),
        params:
            point=sweep_point,
            identity=branch_options(
                "identity",
                "aggregate",
                "confidence_top",
                "consensus",
                "contrast",
                "max_cells",
                "n_candidates",
            ),
            train=config["train"],
            attribution=config["attribution"],
        script:
            "../../scripts/sweep_identity.py"

    rule sweep_summary:
        input:
            unpack(sweep_summary_inputs),
        output:
            tsv=report(
                "results/{dataset}/sweep/summary.tsv",
                caption="../report/sweep_summary.rst",
                category="9. Parameter sweep",
                subcategory="{dataset}",
                labels={"figure": "summary (table)"},
            ),
            png=report(
                "results/{dataset}/sweep/summary.png",
                caption="../report/sweep_summary.rst",
                category="9. Parameter sweep",
                subcategory="{dataset}",
                labels={"figure": "stability and precision per point"},
            ),
        log:
            "logs/{dataset}/sweep/sweep_summary.log",
        benchmark:
            "results/{dataset}/benchmarks/sweep/sweep_summary.tsv"
        conda:
            "../../envs/scanpy.yaml"
        threads: 1
        resources:
            mem_mb=mem_mb(4000),
            runtime=runtime(20),
        params:
            points=SWEEP_SPACE.dataframe.to_dict("records"),
            k=SWEEP["top_k"],
        script:
            "../../scripts/sweep_summary.py"
