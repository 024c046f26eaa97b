# The built-in demo data, simulated with ground truth (see scinterp.simulate).


rule simulate_demo:
    output:
        rna="resources/demo/rna.h5ad",
        atac="resources/demo/atac.h5ad",
        genome="resources/demo/genome.fa",
        gene_sets="resources/demo/gene_sets.gmt",
        tfs="resources/demo/tfs.txt",
        markers="resources/demo/truth/markers.tsv",
        programs="resources/demo/truth/programs.tsv",
        grn="resources/demo/truth/grn.tsv",
        motifs="resources/demo/truth/motifs.tsv",
        conditions_genes="resources/demo/truth/conditions_genes.tsv",
        conditions_abundance="resources/demo/truth/conditions_abundance.tsv",
    log:
        "logs/simulate_demo.log",
    conda:
        "../../envs/scanpy.yaml"
    resources:
        mem_mb=mem_mb(4000),
        runtime=runtime(30),
    params:
        seed=0,
        conditions=True,  # donors and conditions (a params change reruns an older demo)
    script:
        "../../scripts/simulate_demo.py"
