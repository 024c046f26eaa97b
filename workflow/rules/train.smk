# One rule trains every model (the {model} wildcard); GPU nodes on a cluster, CPU fallback.
rule train_model:
    input:
        unpack(train_inputs),
    output:
        model="results/{dataset}/models/{model}/model.pt",
        meta="results/{dataset}/models/{model}/model.json",
        history="results/{dataset}/models/{model}/history.tsv",
        curve=report(
            "results/{dataset}/models/{model}/loss.png",
            caption="../report/training.rst",
            category="3. Training",
            subcategory="{dataset}",
            labels={"model": "{model}", "figure": "loss curves"},
        ),
    log:
        "logs/{dataset}/train_model/{model}.log",
    benchmark:
        "results/{dataset}/benchmarks/train_model/{model}.tsv"
    wildcard_constraints:
        model="|".join(MODELS),
    priority: train_priority
    conda:
        "../../envs/torch.yaml"
    threads: train_threads
    resources:
        gpu=1,
        mem_mb=mem_mb(4000, 300),
        runtime=runtime(240, 5),
    params:
        dataset="{dataset}",
        model="{model}",
        batch_key=ds_param("batch_key"),
        train=train_settings,
    script:
        "../../scripts/train_model.py"


# Further ensemble members of a model (branches.identity/programs/grn.ensemble): the same
# model and data at other seeds, all in one job (one rule per model with an ensemble: a
# rule's outputs are fixed, and the member count is the model's): imports, data and
# start-up are paid once instead of once per member, and the members train one after the
# other at the model's threads, beside the main model's job.
for _model in MODELS:
    if ensemble_size(_model) < 2:
        continue

    rule:
        name:
            f"train_members_{_model}"
        input:
            unpack(train_inputs),
        output:
            model=member_files(_model, "model.pt"),
            meta=member_files(_model, "model.json"),
            history=member_files(_model, "history.tsv"),
            curve=member_files(_model, "loss.png"),
        log:
            "logs/{dataset}/train_members/{model}.log",
        benchmark:
            "results/{dataset}/benchmarks/train_members/{model}.tsv"
        wildcard_constraints:
            model=_model,
        priority: train_priority
        conda:
            "../../envs/torch.yaml"
        threads: train_threads
        resources:
            gpu=1,
            mem_mb=mem_mb(4000, 300),
            runtime=runtime(
                240 * (ensemble_size(_model) - 1), 5 * (ensemble_size(_model) - 1)
            ),
        params:
            dataset="{dataset}",
            model="{model}",
            batch_key=ds_param("batch_key"),
            train=train_settings,
            seeds=member_seeds(ensemble_size(_model)),
        script:
            "../../scripts/train_members.py"
