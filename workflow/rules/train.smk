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
# model and data at other seeds; the branch that reads the model reads them too.
rule train_member:
    input:
        unpack(train_inputs),
    output:
        model="results/{dataset}/models/{model}/members/{member}/model.pt",
        meta="results/{dataset}/models/{model}/members/{member}/model.json",
        history="results/{dataset}/models/{model}/members/{member}/history.tsv",
        curve="results/{dataset}/models/{model}/members/{member}/loss.png",
    log:
        "logs/{dataset}/train_member/{model}/{member}.log",
    benchmark:
        "results/{dataset}/benchmarks/train_member/{model}/{member}.tsv"
    wildcard_constraints:
        model="|".join(MODELS),
        member=r"seed\d+",
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
        train=member_train_settings,
    script:
        "../../scripts/train_model.py"
