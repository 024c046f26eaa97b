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
RNA_SUFFIXES = (".h5ad", ".h5")


def h5ad_names(path: str | Path) -> dict[str, list[str]]:
    """Column names of obs and names of layers of an h5ad, without reading data.

    Parameters
    ----------
    path
        An .h5ad file.

    Returns
    -------
    dict
        ``{"obs": [...], "layers": [...]}``.
    """
    import h5py

    with h5py.File(path, "r") as f:
        obs = f["obs"]
        if "column-order" in obs.attrs:
            cols = [str(c) for c in obs.attrs["column-order"]]
        else:  # older layouts: every member except the index is a column
            index = obs.attrs.get("_index", "_index")
            cols = [k for k in obs.keys() if k not in (index, "__categories")]
        layers = list(f["layers"].keys()) if "layers" in f else []
    return {"obs": cols, "layers": layers}


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
            if path is None or producible(path):
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
                "the rna input is neither an .h5ad, a 10x .h5 nor a Matrix Market directory.",
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
        if str(rna).endswith(".h5ad") and Path(rna).exists():
            _check_h5ad_names(name, ds, rna)


def _check_h5ad_names(name: str, ds: dict, path: str) -> None:
    try:
        names = h5ad_names(path)
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
    if layer is not None and layer not in names["layers"]:
        raise ScinterpInputError(
            f"counts_layer '{layer}' is not a layer (layers: {', '.join(names['layers']) or 'none'}).",
            dataset=name,
            path=path,
            fix=f"set datasets.{name}.counts_layer to the layer with raw counts, or null for .X.",
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
