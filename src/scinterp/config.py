"""Config checks that run when the workflow is parsed, before any job starts.

The JSON schema (workflow/schemas/config.schema.yaml) checks types and unknown keys;
this module checks what a schema cannot: that files exist, that the obs columns and
layers named in the config are in the h5ad, that an ATAC dataset has a genome.
Nothing here reads a matrix: only names stored in the h5ad's metadata.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from scinterp.errors import ScinterpInputError

FILE_KEYS = ("rna", "gene_sets", "tfs", "grn_reference", "atac", "genome")
RNA_SUFFIXES = (".h5ad", ".h5", ".h5mu")
#: ``atac`` value: the peaks come from the rna file (10x multiome .h5 or .h5mu)
ATAC_FROM_RNA = "from_rna"


def _columns(group) -> list[str]:
    if "column-order" in group.attrs:
        return [str(c) for c in group.attrs["column-order"]]
    # older layouts: every member except the index is a column
    index = group.attrs.get("_index", "_index")
    return [k for k in group.keys() if k not in (index, "__categories")]


def h5ad_names(path: str | Path, modality: str | None = None) -> dict[str, list[str]]:
    """Column names of obs and var, names of layers, and whether there is a ``.raw``, of
    an h5ad (or of one modality of an .h5mu), without reading data.

    Parameters
    ----------
    path
        An .h5ad file, or an .h5mu file with ``modality``.

    Returns
    -------
    dict
        ``{"obs": [...], "var": [...], "layers": [...], "raw": bool}``.
    """
    import h5py

    with h5py.File(path, "r") as f:
        root = f[f"mod/{modality}"] if modality else f
        layers = list(root["layers"].keys()) if "layers" in root else []
        return {
            "obs": _columns(root["obs"]),
            "var": _columns(root["var"]),
            "layers": layers,
            "raw": "raw" in root,
        }


def gene_names(path: str | Path, symbol_key: str | None = None, modality: str | None = None):
    """The gene names the workflow will use for an h5ad/h5mu: ``var[symbol_key]`` (IDs
    where a symbol is missing) or the var names; reads only ``var``."""
    import h5py
    import pandas as pd
    from anndata.io import read_elem

    with h5py.File(path, "r") as f:
        var = read_elem(f[f"mod/{modality}/var" if modality else "var"])
    names = pd.Series(var.index.astype(str), index=var.index)
    if symbol_key is not None and symbol_key in var.columns:
        sym = var[symbol_key].astype(object)
        ok = sym.notna() & (sym.astype(str).str.strip() != "")
        names[ok.to_numpy()] = sym[ok].astype(str).to_numpy()
    return list(names)


def is_rna_h5ad(path) -> bool:
    """An rna input whose names and var the parse-time checks can read (h5ad or h5mu)."""
    return str(path).endswith((".h5ad", ".h5mu"))


def rna_modality(ds: dict) -> str | None:
    """The modality to read of an .h5mu rna file (None for other files)."""
    return (ds.get("rna_modality") or "rna") if str(ds.get("rna", "")).endswith(".h5mu") else None


def check_datasets(
    datasets: dict,
    *,
    producible: Callable[[str], bool] = lambda p: False,
    motif_releases: Iterable[str] = (),
) -> None:
    """Check every dataset of the (schema-validated) config.

    Parameters
    ----------
    datasets
        ``config["datasets"]``.
    producible
        Tells whether a missing path will be made by a rule (e.g. the demo data);
        such paths are not required to exist yet.
    motif_releases
        JASPAR release names that ship offline; any other ``motif_database`` must be
        a MEME file.

    Raises
    ------
    ScinterpInputError
        On the first problem found, naming the dataset, the file and the fix.
    """
    releases = set(motif_releases)
    for name, ds in datasets.items():
        for key in FILE_KEYS:
            path = ds.get(key)
            if path is None or producible(path) or (key == "atac" and path == ATAC_FROM_RNA):
                continue
            if not Path(path).exists():
                raise ScinterpInputError(
                    f"the {key} file does not exist.",
                    dataset=name,
                    path=path,
                    fix=f"correct datasets.{name}.{key} in the config (paths are relative "
                    "to the working directory) or remove the key.",
                )
        rna = ds["rna"]
        if not (Path(rna).is_dir() or str(rna).endswith(RNA_SUFFIXES)) and not producible(rna):
            raise ScinterpInputError(
                "the rna input is neither an .h5ad, an .h5mu, a 10x .h5 nor a Matrix Market "
                "directory.",
                dataset=name,
                path=rna,
                fix="convert it to .h5ad (anndata) or point to a 10x output.",
            )
        if ds.get("atac") and not ds.get("genome"):
            raise ScinterpInputError(
                "an atac dataset needs the genome FASTA its peaks refer to.",
                dataset=name,
                path=ds["atac"],
                fix=f"add datasets.{name}.genome: path/to/genome.fa (or remove atac).",
            )
        db = ds.get("motif_database", "JASPAR2024")
        if ds.get("atac") and db not in releases and not Path(db).exists():
            raise ScinterpInputError(
                f"motif_database '{db}' is neither a JASPAR release shipped with pyjaspar "
                f"({', '.join(sorted(releases)) or 'none found'}) nor an existing MEME file.",
                dataset=name,
                path=db,
                fix="use e.g. JASPAR2024 or the path of a MEME-format motif file.",
            )
        if ds.get("atac") == ATAC_FROM_RNA:
            _check_atac_from_rna(name, ds, rna, producible)
        if is_rna_h5ad(rna) and Path(rna).exists():
            _check_h5ad_names(name, ds, rna)


def _check_atac_from_rna(name: str, ds: dict, rna: str, producible) -> None:
    """atac: from_rna needs a multiome .h5 with peaks or an .h5mu with the atac modality."""
    from scinterp.io import h5_feature_types, require_h5mu_modality

    if producible(rna):
        return
    if str(rna).endswith(".h5mu"):
        require_h5mu_modality(rna, ds.get("atac_modality") or "atac", name, "atac_modality")
    elif str(rna).endswith(".h5"):
        types = h5_feature_types(rna)
        if "Peaks" not in types:
            raise ScinterpInputError(
                "atac is from_rna, but the 10x .h5 holds no peaks (feature types: "
                f"{', '.join(types) or 'none recorded'}).",
                dataset=name,
                path=rna,
                fix="give the Cell Ranger ARC filtered_feature_bc_matrix.h5 of the multiome "
                f"run as rna, or set datasets.{name}.atac to a cells x peaks .h5ad.",
            )
    else:
        raise ScinterpInputError(
            "atac is from_rna, which needs a 10x multiome .h5 or an .h5mu as rna.",
            dataset=name,
            path=rna,
            fix=f"set datasets.{name}.atac to a cells x peaks .h5ad, or give the multiome "
            "file as rna.",
        )


def _check_h5ad_names(name: str, ds: dict, path: str) -> None:
    from scinterp.io import RAW, check_species

    modality = rna_modality(ds)
    if modality is not None:
        from scinterp.io import require_h5mu_modality

        require_h5mu_modality(path, modality, name, "rna_modality")
    try:
        names = h5ad_names(path, modality)
    except Exception as err:  # not an HDF5 file, truncated, ...
        raise ScinterpInputError(
            f"cannot be read as h5ad ({err}).",
            dataset=name,
            path=path,
            fix="check the file is a complete AnnData .h5ad (anndata.read_h5ad).",
        ) from err
    for key in ("label_key", "batch_key"):
        col = ds.get(key)
        if col is not None and col not in names["obs"]:
            raise ScinterpInputError(
                f"{key} '{col}' is not a column of obs (columns: {', '.join(names['obs']) or 'none'}).",
                dataset=name,
                path=path,
                fix=f"set datasets.{name}.{key} to one of the obs columns, or null.",
            )
    layer = ds.get("counts_layer")
    if layer is not None and layer not in names["layers"] and not (layer == RAW and names["raw"]):
        raise ScinterpInputError(
            f"counts_layer '{layer}' is not a layer (layers: {', '.join(names['layers']) or 'none'}"
            f"; .raw {'present' if names['raw'] else 'absent'}).",
            dataset=name,
            path=path,
            fix=f"set datasets.{name}.counts_layer to the layer with raw counts, 'raw' for "
            ".raw.X, or null to let scinterp find them.",
        )
    symbol_key = ds.get("symbol_key")
    if symbol_key is not None and symbol_key not in names["var"]:
        raise ScinterpInputError(
            f"symbol_key '{symbol_key}' is not a column of var (columns: "
            f"{', '.join(names['var']) or 'none'}).",
            dataset=name,
            path=path,
            fix=f"set datasets.{name}.symbol_key to the var column of gene symbols "
            "(CELLxGENE: feature_name), or null.",
        )
    check_species(
        gene_names(path, symbol_key, modality), ds.get("species"), dataset=name, path=path
    )


def schema_to_markdown(schema: dict) -> str:
    """Render the config schema as the option reference of config/README.md.

    Parameters
    ----------
    schema
        The parsed workflow/schemas/config.schema.yaml.

    Returns
    -------
    str
        Markdown with one table row per option: key, type, default, description.
    """
    import json

    rows: list[str] = []

    def fmt_type(node):
        t = node.get("type", "")
        t = " or ".join(t) if isinstance(t, list) else t
        if "enum" in node:
            t += ": " + ", ".join(f"`{v}`" for v in node["enum"])
        if node.get("type") == "array" and "enum" in node.get("items", {}):
            t += " of " + ", ".join(f"`{v}`" for v in node["items"]["enum"])
        return t

    def walk(node, key):
        desc = " ".join(str(node.get("description", "")).split())
        if node.get("type") == "object" and "properties" in node:
            rows.append(f"| **`{key}`** | section | | {desc} |")
            for sub, subnode in node["properties"].items():
                walk(subnode, f"{key}.{sub}")
            return
        default = json.dumps(node["default"]) if "default" in node else "required"
        rows.append(f"| `{key}` | {fmt_type(node)} | `{default}` | {desc} |")

    ds = schema["properties"]["datasets"]
    rows.append(f"| **`datasets.<name>`** | section | | {' '.join(ds['description'].split())} |")
    for sub, subnode in ds["additionalProperties"]["properties"].items():
        walk(subnode, f"datasets.<name>.{sub}")
    for key, node in schema["properties"].items():
        if key != "datasets":
            walk(node, key)
    head = [
        "# Configuration options",
        "",
        "Generated from `workflow/schemas/config.schema.yaml` by",
        "`python -m scinterp.config > config/README.md` (a test checks it is current).",
        "Unknown keys are rejected; every key below has the default shown.",
        "",
        "| key | type | default | description |",
        "| --- | --- | --- | --- |",
    ]
    return "\n".join(head + rows) + "\n"


if __name__ == "__main__":  # python -m scinterp.config > config/README.md
    import yaml

    root = Path(__file__).resolve().parents[2]
    text = (root / "workflow" / "schemas" / "config.schema.yaml").read_text()
    print(schema_to_markdown(yaml.safe_load(text)), end="")
