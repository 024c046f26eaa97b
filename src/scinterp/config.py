"""Config checks that run when the workflow is parsed, before any job starts.

The JSON schema (workflow/schemas/config.schema.yaml) checks types and unknown keys
(`check_schema` reports every violation in one short line, with "did you mean" for a
misspelt key); this module checks what a schema cannot, once per dataset
(`DATASET_CHECKS`): that files exist, that the obs columns and layers named in the
config are in the h5ad, that an ATAC dataset has a genome, and the input itself before
compute (scinterp.io._check: the sparse matrix's structure on a backed read of its
index blocks, raw counts on a sample of values, empty and all-zero matrices,
duplicated names, labels and batches). Every problem of every dataset is reported in
one run (`config_problems`, `format_problems`); with snakemake --keep-going the
broken datasets are skipped and the others run (`skip_broken_datasets`).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from scinterp.errors import ScinterpInputError

FILE_KEYS = ("rna", "gene_sets", "tfs", "grn_reference", "atac", "genome")
RNA_SUFFIXES = (".h5ad", ".h5", ".h5mu")
#: ``atac`` value: the peaks come from the rna file (10x multiome .h5 or .h5mu)
ATAC_FROM_RNA = "from_rna"


def h5ad_names(path: str | Path, modality: str | None = None) -> dict[str, list[str]]:
    """Column names of obs and var, names of layers, and whether there is a ``.raw``, of
    an h5ad (or of one modality of an .h5mu), without reading data. Reads the current
    layout and the legacy one (anndata < 0.7: obs and var as compound datasets, raw as
    ``raw.X``).

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

    from scinterp.io._h5ad import frame_columns

    with h5py.File(path, "r") as f:
        root = f[f"mod/{modality}"] if modality else f
        layers = list(root["layers"].keys()) if "layers" in root else []
        return {
            "obs": frame_columns(root["obs"]),
            "var": frame_columns(root["var"]),
            "layers": layers,
            "raw": "raw" in root or "raw.X" in root,
        }


def gene_names(path: str | Path, symbol_key: str | None = None, modality: str | None = None):
    """The gene names the workflow will use for an h5ad/h5mu: ``var[symbol_key]`` (IDs
    where a symbol is missing) or the var names; reads only ``var``."""
    import h5py
    import pandas as pd

    from scinterp.io._h5ad import read_frame

    with h5py.File(path, "r") as f:
        var = read_frame(f[f"mod/{modality}/var" if modality else "var"])
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


@dataclass
class DatasetInput:
    """One dataset as the checks see it: its name and config, and what earlier checks
    found (``names``: `h5ad_names` of the rna file once it could be read)."""

    name: str
    ds: dict
    producible: Callable[[str], bool] = lambda p: False
    motif_releases: frozenset = frozenset()
    names: dict | None = None
    stop: bool = False  # a check found the input unusable: the later checks do not run

    @property
    def rna(self) -> str:
        return self.ds["rna"]

    def obs_column(self, key: str):
        """One obs column of the rna file (h5ad or the .h5mu modality; current or legacy
        layout) as a Series, for a check of the column's values (e.g. sample_key)."""
        import h5py

        from scinterp.io._h5ad import read_obs_column

        modality = rna_modality(self.ds)
        with h5py.File(self.rna, "r") as f:
            return read_obs_column(f[f"mod/{modality}/obs" if modality else "obs"], key)

    def error(self, problem: str, fix: str, path=None) -> ScinterpInputError:
        return ScinterpInputError(
            problem, dataset=self.name, path=self.rna if path is None else path, fix=fix
        )


def _check_files(d: DatasetInput):
    for key in FILE_KEYS:
        path = d.ds.get(key)
        if path is None or d.producible(path) or (key == "atac" and path == ATAC_FROM_RNA):
            continue
        if not Path(path).exists():
            if key == "rna":
                d.stop = True
            yield d.error(
                f"the {key} file does not exist.",
                f"correct datasets.{d.name}.{key} in the config (paths are relative "
                "to the working directory) or remove the key.",
                path,
            )


def _check_rna_format(d: DatasetInput):
    rna = d.rna
    if not (Path(rna).is_dir() or str(rna).endswith(RNA_SUFFIXES)) and not d.producible(rna):
        d.stop = True
        yield d.error(
            "the rna input is neither an .h5ad, an .h5mu, a 10x .h5 nor a Matrix Market directory.",
            "convert it to .h5ad (anndata) or point to a 10x output.",
        )


def _check_atac(d: DatasetInput):
    ds, name = d.ds, d.name
    if ds.get("atac") and not ds.get("genome"):
        yield d.error(
            "an atac dataset needs the genome FASTA its peaks refer to.",
            f"add datasets.{name}.genome: path/to/genome.fa (or remove atac).",
            ds["atac"],
        )
    db = ds.get("motif_database", "JASPAR2024")
    if ds.get("atac") and db not in d.motif_releases and not Path(db).exists():
        yield d.error(
            f"motif_database '{db}' is neither a JASPAR release shipped with pyjaspar "
            f"({', '.join(sorted(d.motif_releases)) or 'none found'}) nor an existing MEME file.",
            "use e.g. JASPAR2024 or the path of a MEME-format motif file.",
            db,
        )
    if ds.get("atac") == ATAC_FROM_RNA:
        _check_atac_from_rna(name, ds, d.rna, d.producible)


def _check_rna_h5ad(d: DatasetInput):
    """Names in the h5ad's metadata (obs columns, layers, var columns, species)."""
    if not (is_rna_h5ad(d.rna) and Path(d.rna).exists()):
        return []
    d.stop = True  # until the file could be read
    d.names, problems = _check_h5ad_names(d.name, d.ds, d.rna)
    d.stop = False
    return problems


def _check_rna_matrix(d: DatasetInput):
    """The matrix, names, labels and batches on a backed read (scinterp.io._check)."""
    if d.names is None:
        return []
    from scinterp.io._check import h5ad_input_problems

    ds = d.ds
    return h5ad_input_problems(
        d.rna,
        dataset=d.name,
        counts_layer=ds.get("counts_layer"),
        symbol_key=ds.get("symbol_key"),
        label_key=ds.get("label_key"),
        batch_key=ds.get("batch_key"),
        modality=rna_modality(ds),
    )


def _check_rna_10x(d: DatasetInput):
    """A Cell Ranger .h5 whose matrix is broken (scinterp.io._check)."""
    if str(d.rna).endswith(".h5") and Path(d.rna).exists() and not d.producible(d.rna):
        from scinterp.io._check import check_10x_structure

        check_10x_structure(d.rna, dataset=d.name)


def _check_atac_matrix(d: DatasetInput):
    """A cells x peaks .h5ad whose sparse matrix is broken (scinterp.io._check)."""
    atac = d.ds.get("atac")
    if not atac or atac == ATAC_FROM_RNA or d.producible(atac) or not is_rna_h5ad(atac):
        return
    if Path(atac).exists():
        from scinterp.io._check import check_h5ad_structure

        check_h5ad_structure(atac, dataset=d.name)


def _check_conditions(d: DatasetInput):
    """sample_key, condition_key, reference and contrasts: the columns exist and the
    design holds (scinterp.interpret.conditions.check_design: condition_key needs
    sample_key, a sample in one condition, known levels). A condition with fewer than 2
    samples is no error: the branch is skipped (workflow/rules/inputs/conditions.smk)."""
    ds = d.ds
    sample_key, condition_key = ds.get("sample_key"), ds.get("condition_key")
    if condition_key is None:
        if ds.get("reference") is not None or ds.get("contrasts"):
            yield d.error(
                "reference/contrasts are set but condition_key is not.",
                f"set datasets.{d.name}.condition_key to the obs column of the conditions "
                "(or remove reference and contrasts).",
            )
        return
    if sample_key is None:
        yield d.error(
            f"condition_key '{condition_key}' is set without sample_key: conditions are "
            "compared across samples (donors, mice), never with cells as replicates.",
            f"set datasets.{d.name}.sample_key to the obs column naming each cell's "
            "sample (donor, mouse, replicate), or remove condition_key.",
        )
        return
    if d.producible(d.rna):  # the demo: written again by its rule when it predates a key
        return
    if d.names is None:  # not an h5ad/h5mu (or unreadable): no obs columns to check
        if not d.producible(d.rna) and Path(d.rna).exists() and not is_rna_h5ad(d.rna):
            yield d.error(
                "condition_key and sample_key name obs columns, but the rna input has none "
                "(a 10x .h5 or Matrix Market folder).",
                "convert the data to .h5ad with the sample and condition columns in obs.",
            )
        return
    missing = False
    for key, col in (("sample_key", sample_key), ("condition_key", condition_key)):
        if col not in d.names["obs"]:
            missing = True
            close = difflib.get_close_matches(col, d.names["obs"], n=1)
            yield d.error(
                f"{key} '{col}' is not a column of obs"
                + (f"; did you mean '{close[0]}'?" if close else "")
                + f" (columns: {', '.join(d.names['obs']) or 'none'}).",
                f"set datasets.{d.name}.{key} to one of the obs columns.",
            )
    if missing:
        return
    import pandas as pd

    from scinterp.interpret.conditions import check_design

    obs = pd.DataFrame(
        {k: d.obs_column(k).to_numpy() for k in dict.fromkeys((sample_key, condition_key))}
    )
    check_design(
        obs,
        sample_key,
        condition_key,
        reference=ds.get("reference"),
        contrasts=ds.get("contrasts"),
        dataset=d.name,
        path=d.rna,
    )


#: The checks of one dataset, in order: ``check(d: DatasetInput)`` returns or yields
#: `ScinterpInputError`s (or raises one). A check that finds the input unusable sets
#: ``d.stop`` and the later ones do not run. A new config key's check is one function
#: appended here (it may read ``d.names`` and the file; see `_check_rna_matrix`).
DATASET_CHECKS: list[Callable[[DatasetInput], Iterable[ScinterpInputError] | None]] = [
    _check_files,
    _check_rna_format,
    _check_atac,
    _check_rna_h5ad,
    _check_rna_matrix,
    _check_rna_10x,
    _check_atac_matrix,
    _check_conditions,
]


def dataset_problems(
    name: str,
    ds: dict,
    *,
    producible: Callable[[str], bool] = lambda p: False,
    motif_releases: Iterable[str] = (),
) -> list[ScinterpInputError]:
    """Every problem of one dataset's config and input found by `DATASET_CHECKS`."""
    d = DatasetInput(name, ds, producible, frozenset(motif_releases))
    problems: list[ScinterpInputError] = []
    for check in DATASET_CHECKS:
        try:
            problems += list(check(d) or ())
        except ScinterpInputError as err:
            problems.append(err)
        if d.stop:
            break
    return problems


def _input_stamp(name: str, ds: dict) -> str:
    """The dataset's config and the size and time of its files: a dataset found sound
    with the same stamp need not be read again (every job of a cluster run parses the
    workflow, and the matrix check reads the index blocks)."""
    import hashlib
    import json

    stats = {}
    for key in FILE_KEYS:
        path = ds.get(key)
        if path and Path(path).exists():
            st = Path(path).stat()
            stats[key] = [str(Path(path).resolve()), st.st_size, st.st_mtime_ns]
    # the checks themselves: a changed or added check reads the file again
    import importlib

    code = [f"{c.__module__}.{c.__qualname__}" for c in DATASET_CHECKS]
    for module in ("scinterp.config", "scinterp.io._check"):
        source = Path(importlib.import_module(module).__file__).read_bytes()
        code.append(hashlib.sha256(source).hexdigest())
    text = json.dumps([name, ds, stats, code], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def config_problems(
    datasets: dict,
    *,
    producible: Callable[[str], bool] = lambda p: False,
    motif_releases: Iterable[str] = (),
    cache: str | Path | None = None,
) -> dict[str, list[ScinterpInputError]]:
    """The problems of every dataset (`dataset_problems`), by dataset; datasets without
    problems are left out. ``cache``: a JSON file of the stamps of datasets found sound,
    which are not checked again while their config and files are unchanged."""
    import json

    seen: set[str] = set()
    if cache is not None and Path(cache).exists():
        try:
            seen = set(json.loads(Path(cache).read_text()))
        except (ValueError, OSError):
            seen = set()
    problems, sound = {}, set()
    for name, ds in datasets.items():
        stamp = _input_stamp(name, ds)
        if stamp in seen:
            sound.add(stamp)
            continue
        found = dataset_problems(name, ds, producible=producible, motif_releases=motif_releases)
        if found:
            problems[name] = found
        elif Path(ds["rna"]).exists():
            sound.add(stamp)
    if cache is not None and sound:
        try:
            Path(cache).parent.mkdir(parents=True, exist_ok=True)
            Path(cache).write_text(json.dumps(sorted(seen | sound)))
        except OSError:
            pass  # a read-only working directory: check again next time
    return problems


def format_problems(problems: dict[str, list[ScinterpInputError]]) -> str:
    """The problems of a config as the terminal shows them: per dataset and file, one
    line for what is wrong and one for the fix."""
    lines = []
    for name, errs in problems.items():
        by_file: dict[str | None, list[ScinterpInputError]] = {}
        for err in errs:
            by_file.setdefault(err.path, []).append(err)
        for path, group in by_file.items():
            lines.append(f"dataset '{name}'" + (f", file '{path}':" if path else ":"))
            for err in group:
                lines.append(f"  - {err.problem}")
                if err.fix:
                    lines.append(f"    Fix: {err.fix}")
    return "\n".join(lines)


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
        Naming every problem found (`config_problems`): dataset, file and fix of each.
    """
    problems = config_problems(datasets, producible=producible, motif_releases=motif_releases)
    if not problems:
        return
    errs = [e for found in problems.values() for e in found]
    if len(errs) == 1:
        raise errs[0]
    raise ScinterpConfigError(format_problems(problems), problems)


class ScinterpConfigError(ScinterpInputError):
    """Several problems of a config at once (``problems``: dataset -> errors)."""

    def __init__(self, message: str, problems: dict[str, list[ScinterpInputError]]):
        self.problems = problems
        ValueError.__init__(self, message)
        self.problem, self.dataset, self.path, self.fix = message, None, None, None


def skip_broken_datasets(
    datasets: dict, problems: dict[str, list[ScinterpInputError]], *, keep_going: bool
) -> dict:
    """The datasets to run. Without problems: all. Otherwise every problem is reported;
    with ``keep_going`` (snakemake --keep-going) the broken datasets are skipped and the
    others run (the report goes to stderr), else `ScinterpConfigError` is raised."""
    import sys

    if not problems:
        return datasets
    report = format_problems(problems)
    left = {k: v for k, v in datasets.items() if k not in problems}
    if keep_going and left:
        print(
            f"scinterp: {len(problems)} dataset(s) skipped for bad input (--keep-going), "
            f"running {', '.join(left)}:\n{report}",
            file=sys.stderr,
        )
        return left
    hint = "" if keep_going else "\n(with --keep-going the other datasets run, these are skipped)"
    if len(datasets) == 1:
        hint = ""
    raise ScinterpConfigError(
        f"the input is not usable; nothing was run.\n{report}{hint}", problems
    )


def keep_going_requested(argv: list[str], environ: dict | None = None) -> bool:
    """Whether snakemake was started with --keep-going (``-k``), on the command line or
    in the profile (``--profile`` or ``$SNAKEMAKE_PROFILE``, its config.yaml's
    ``keep-going``). The workflow is parsed before snakemake hands its execution
    settings over, so the config check reads them here."""
    import os

    import yaml

    if "--keep-going" in argv or "-k" in argv:
        return True
    environ = os.environ if environ is None else environ
    profile = environ.get("SNAKEMAKE_PROFILE")
    for i, arg in enumerate(argv):
        if arg == "--profile" and i + 1 < len(argv):
            profile = argv[i + 1]
        elif arg.startswith("--profile="):
            profile = arg.split("=", 1)[1]
    if profile and (Path(profile) / "config.yaml").exists():
        try:
            conf = yaml.safe_load((Path(profile) / "config.yaml").read_text()) or {}
        except (OSError, yaml.YAMLError):
            return False
        return bool(conf.get("keep-going", conf.get("keep_going", False)))
    return False


def schema_problems(config: dict, schema: dict) -> list[str]:
    """Every violation of the config schema, one short line each: where, what, and for an
    unknown key the closest known one ("did you mean"); never the schema itself."""
    import difflib

    from jsonschema import Draft202012Validator

    out = []
    validator = Draft202012Validator(schema)
    for err in sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.path))):
        where = ".".join(str(p) for p in err.absolute_path) or "the top level"
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            known = list(err.schema.get("properties", {}))
            for key in err.instance:
                if key in known:
                    continue
                close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
                guess = f"; did you mean '{close[0]}'?" if close else ""
                at = "at" if where == "the top level" else "in"
                out.append(f"unknown key '{key}' {at} {where}{guess} (known: {', '.join(known)})")
        elif "propertyNames" in list(err.schema_path):
            out.append(
                f"dataset name '{err.instance}' in {where}: a name may hold only letters, "
                "digits, '_' and '-' (it names the results/ folder); rename it, e.g. "
                f"'{'_'.join(str(err.instance).split())}'"
            )
        elif err.validator == "required":
            out.append(f"{where}: {err.message}")
        elif err.validator == "minProperties" and not err.instance:
            out.append(f"{where} is empty: list at least one")
        else:
            msg = err.message if len(err.message) <= 160 else err.message[:157] + "..."
            out.append(f"{where}: {msg}")
    return out


def check_schema(config: dict, schema_path: str | Path) -> None:
    """Raise `ScinterpInputError` listing every schema violation of ``config`` in short
    lines (`schema_problems`); snakemake's validate would print the whole schema."""
    import yaml

    schema = yaml.safe_load(Path(schema_path).read_text())
    problems = schema_problems(config, schema)
    if problems:
        raise ScinterpInputError(
            "the config does not follow the schema:\n  - " + "\n  - ".join(problems) + "\n",
            fix="correct these keys (config/README.md lists every option).",
        )


#: schema keyword of a key whose value under ``compare: true`` differs from its default
COMPARE_KEYWORD = "x-compare"


def compare_keys(schema: dict, prefix: tuple[str, ...] = ()):
    """``(key path, value with compare: true)`` of every schema key marked `COMPARE_KEYWORD`."""
    for key, node in schema.get("properties", {}).items():
        path = (*prefix, key)
        if COMPARE_KEYWORD in node:
            yield path, node[COMPARE_KEYWORD]
        yield from compare_keys(node, path)


def _schema_node(schema: dict, path) -> dict:
    for key in path:
        schema = schema["properties"][key]
    return schema


def apply_compare(config: dict, schema: dict) -> dict[str, object]:
    """Fill in the keys that the top-level ``compare`` switch decides, where the config
    does not set them; call it before the schema's defaults are filled in.

    ``compare: false`` (the default) computes what the findings read: the schema's
    defaults, with ``train.models`` following the identity branch (its
    ``branches.identity.model`` in place of ``mlp_classifier``, and
    ``attention_classifier`` added when ``branches.identity.consensus`` lists
    ``attention``). ``compare: true`` gives every key marked ``x-compare`` in the schema
    that value: every model, every attribution method, the peers and baselines beside
    ours. A key the config sets wins either way.

    Returns
    -------
    dict
        Dotted key -> the value filled in (keys the config set are not listed).
    """
    filled: dict[str, object] = {}

    def fill(path, value):
        node = config
        for key in path[:-1]:
            node = node.setdefault(key, {})
        if path[-1] not in node:
            node[path[-1]] = value
            filled[".".join(path)] = value

    if config.get("compare", False):
        for path, value in compare_keys(schema):
            fill(path, list(value) if isinstance(value, list) else value)
        return filled
    identity = config.get("branches", {}).get("identity", {})
    node = _schema_node(schema, ("branches", "identity"))["properties"]
    model = identity.get("model", node["model"]["default"])
    models = [
        model if m == node["model"]["default"] else m
        for m in _schema_node(schema, ("train", "models"))["default"]
    ]
    if "attention" in identity.get("consensus", ()) and "attention_classifier" not in models:
        models.insert(models.index(model) + 1, "attention_classifier")
    fill(("train", "models"), models)
    return filled


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


def _check_h5ad_names(name: str, ds: dict, path: str) -> tuple[dict, list[ScinterpInputError]]:
    """The names of the h5ad (`h5ad_names`) and the problems of the keys that name its
    columns and layers; raises when the file cannot be read at all."""
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
            fix="the file is incomplete (an interrupted download or copy) or not an "
            "AnnData .h5ad: copy it again, or write it with anndata (adata.write_h5ad).",
        ) from err
    problems = []

    def add(problem, fix):
        problems.append(ScinterpInputError(problem, dataset=name, path=path, fix=fix))

    for key in ("label_key", "batch_key"):
        col = ds.get(key)
        if col is not None and col not in names["obs"]:
            close = difflib.get_close_matches(col, names["obs"], n=1)
            add(
                f"{key} '{col}' is not a column of obs"
                + (f"; did you mean '{close[0]}'?" if close else "")
                + f" (columns: {', '.join(names['obs']) or 'none'}).",
                f"set datasets.{name}.{key} to one of the obs columns, or null.",
            )
    layer = ds.get("counts_layer")
    if layer is not None and layer not in names["layers"] and not (layer == RAW and names["raw"]):
        add(
            f"counts_layer '{layer}' is not a layer (layers: {', '.join(names['layers']) or 'none'}"
            f"; .raw {'present' if names['raw'] else 'absent'}).",
            f"set datasets.{name}.counts_layer to the layer with raw counts, 'raw' for "
            ".raw.X, or null to let scinterp find them.",
        )
    symbol_key = ds.get("symbol_key")
    if symbol_key is not None and symbol_key not in names["var"]:
        add(
            f"symbol_key '{symbol_key}' is not a column of var (columns: "
            f"{', '.join(names['var']) or 'none'}).",
            f"set datasets.{name}.symbol_key to the var column of gene symbols "
            "(CELLxGENE: feature_name), or null.",
        )
        symbol_key = None
    try:
        check_species(
            gene_names(path, symbol_key, modality), ds.get("species"), dataset=name, path=path
        )
    except ScinterpInputError as err:
        problems.append(err)
    return names, problems


#: schema keyword of a ``train.<model>`` section: its keys are the model's settings
#: (``ModelSpec.settings``), checked by `scinterp.train.settings.check_train`
MODEL_SETTINGS_KEYWORD = "x-model-settings"


def _model_settings_schema(name: str) -> dict:
    """The settings of model ``name`` as JSON-schema properties (its ModelSpec's)."""
    import scinterp.models  # noqa: F401 (registers the built-in models)
    from scinterp.models.registry import model_spec

    return {k: s.json_schema() for k, s in model_spec(name).settings.items()}


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
        if node.get(MODEL_SETTINGS_KEYWORD):  # train.<model>: the settings its spec declares
            rows.append(f"| **`{key}`** | section | | {desc} |")
            for sub, subnode in _model_settings_schema(key.rsplit(".", 1)[1]).items():
                walk(subnode, f"{key}.{sub}")
            return
        if node.get("type") == "object" and "properties" in node:
            rows.append(f"| **`{key}`** | section | | {desc} |")
            for sub, subnode in node["properties"].items():
                walk(subnode, f"{key}.{sub}")
            return
        default = f"`{json.dumps(node['default'])}`" if "default" in node else "`required`"
        if node.get("deprecated"):  # an old spelling, read only where the config sets it
            default = "deprecated"
        if COMPARE_KEYWORD in node:  # its value with the top-level compare: true
            default += f" (`compare: true`: `{json.dumps(node[COMPARE_KEYWORD])}`)"
        rows.append(f"| `{key}` | {fmt_type(node)} | {default} | {desc} |")

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
