"""Prior knowledge: gene sets (GMT) and transcription-factor lists.

Readers match symbols to the data case-insensitively and hand back the data's own
spelling, so a human GMT in upper case still finds ``Gata1`` in a mouse-style
var_names. Every failure names the file, the dataset and what to do.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from scinterp.errors import ScinterpInputError

logger = logging.getLogger("scinterp")

#: Shipped defaults, relative to the resources folder (see resources/README.md).
DEFAULT_GENE_SETS = "gene_sets/hallmark.gmt"
DEFAULT_TFS = "tfs/jaspar2024_vertebrates.txt"
#: The default gene sets of each ``species`` of the config (``None``: human).
SPECIES_GENE_SETS = {
    "human": DEFAULT_GENE_SETS,
    "mouse": "gene_sets/mouse_hallmark.gmt",
}


def resources_dir() -> Path:
    """The repository's ``resources/`` folder.

    ``scinterp`` is installed editable from ``src/``, so the folder sits two levels
    above the package. Where the package lives elsewhere (a built wheel), set
    ``SCINTERP_RESOURCES`` to the folder.

    Returns
    -------
    Path
        Absolute path of the resources folder.
    """
    env = os.environ.get("SCINTERP_RESOURCES")
    if env:
        return Path(env).expanduser().resolve()
    candidate = Path(__file__).resolve().parents[2] / "resources"
    if candidate.is_dir():
        return candidate
    raise ScinterpInputError(
        f"the shipped resources folder was not found at {candidate}.",
        fix="install scinterp editable from the repository (pip install -e .) or set "
        "SCINTERP_RESOURCES to the repository's resources/ folder.",
    )


def default_gene_sets(species: str | None = None) -> Path:
    """Path of the default gene-set file of a species: MSigDB Hallmark (human symbols),
    or its mouse orthologs for ``species="mouse"``."""
    return resources_dir() / SPECIES_GENE_SETS[species or "human"]


def default_tfs() -> Path:
    """Path of the default TF list: JASPAR2024 CORE vertebrate TF names."""
    return resources_dir() / DEFAULT_TFS


def _check_exists(path: Path, what: str, dataset: str | None) -> None:
    if not path.is_file():
        raise ScinterpInputError(
            f"{what} file does not exist.",
            dataset=dataset,
            path=path,
            fix=f"correct the path in the config, or leave the key out to use the shipped "
            f"default ({DEFAULT_GENE_SETS if what == 'gene-set' else DEFAULT_TFS}).",
        )


def _lookup(genes: Iterable[str]) -> dict[str, str]:
    """Upper-case symbol -> the data's spelling (first occurrence wins)."""
    table: dict[str, str] = {}
    for gene in genes:
        table.setdefault(str(gene).upper(), str(gene))
    return table


def read_gmt(
    path: str | os.PathLike,
    genes: Iterable[str] | None = None,
    min_size: int = 1,
    dataset: str | None = None,
) -> dict[str, list[str]]:
    """Read gene sets from a GMT file.

    Each line is ``name<TAB>description<TAB>gene<TAB>gene...``. Trailing tabs, empty
    fields, blank lines and Windows line endings are tolerated; a gene repeated
    within a set is kept once, in first-seen order.

    Parameters
    ----------
    path
        GMT file.
    genes
        The data's gene names. When given, each set is intersected with them
        case-insensitively and the data's spelling is returned.
    min_size
        Sets with fewer genes than this (after intersecting) are skipped with a warning.
    dataset
        Dataset name, for error messages.

    Returns
    -------
    dict
        Set name -> genes, in file order.

    Raises
    ------
    ScinterpInputError
        Missing file, a line with fewer than 3 fields, a duplicated set name, or no
        set left once intersected with ``genes``.
    """
    path = Path(path)
    _check_exists(path, "gene-set", dataset)
    sets: dict[str, list[str]] = {}
    with open(path, encoding="utf-8-sig", newline=None) as handle:
        for lineno, line in enumerate(handle, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            fields = [field.strip() for field in line.split("\t")]
            if len(fields) < 3 or not fields[0]:
                raise ScinterpInputError(
                    f"line {lineno} is not valid GMT: it needs a set name, a description "
                    f"and genes, separated by tabs (found {len(fields)} tab-separated "
                    f"field(s): {line[:80]!r}).",
                    dataset=dataset,
                    path=path,
                    fix="write one set per line as name<TAB>description<TAB>gene1<TAB>gene2... "
                    "(tabs, not spaces).",
                )
            members = [field for field in fields[2:] if field]
            name = fields[0]
            if name in sets:
                raise ScinterpInputError(
                    f"gene set '{name}' appears twice (again on line {lineno}).",
                    dataset=dataset,
                    path=path,
                    fix="give every gene set a unique name, or merge the duplicates.",
                )
            sets[name] = list(dict.fromkeys(members))

    if not sets:
        raise ScinterpInputError(
            "the gene-set file holds no gene sets.",
            dataset=dataset,
            path=path,
            fix="supply a GMT file with at least one set.",
        )
    if genes is None:
        return _drop_small(sets, min_size, path, dataset)

    lookup = _lookup(genes)
    matched: dict[str, list[str]] = {}
    all_members: set[str] = set()
    for name, members in sets.items():
        all_members.update(m.upper() for m in members)
        matched[name] = list(
            dict.fromkeys(lookup[m.upper()] for m in members if m.upper() in lookup)
        )
    n_missing = len(all_members - lookup.keys())
    logger.info(
        "%s: %d of %d gene-set genes are absent from the data and were dropped",
        path.name,
        n_missing,
        len(all_members),
    )
    if not any(matched.values()):
        raise ScinterpInputError(
            f"none of the {len(sets)} gene sets shares a gene with the data "
            f"(data genes e.g. {_examples(lookup.values())}; set genes e.g. "
            f"{_examples(dict.fromkeys(m for ms in sets.values() for m in ms))}).",
            dataset=dataset,
            path=path,
            fix="check that the data's var_names are gene symbols of the same species as "
            "the gene sets (not Ensembl IDs), or supply a matching GMT under 'gene_sets'.",
        )
    kept = _drop_small(matched, min_size, path, dataset)
    if not kept:
        raise ScinterpInputError(
            f"no gene set keeps at least {min_size} genes of the data.",
            dataset=dataset,
            path=path,
            fix="lower the minimum set size, or supply a GMT whose sets overlap the data's "
            "genes (check gene symbols and species).",
        )
    return kept


def _drop_small(
    sets: dict[str, list[str]], min_size: int, path: Path, dataset: str | None
) -> dict[str, list[str]]:
    kept = {name: members for name, members in sets.items() if len(members) >= min_size}
    skipped = [name for name in sets if name not in kept]
    if skipped:
        logger.warning(
            "%s%s: skipped %d gene set(s) with fewer than %d genes in the data: %s",
            f"dataset '{dataset}', " if dataset else "",
            path.name,
            len(skipped),
            min_size,
            ", ".join(skipped),
        )
    return kept


def _examples(values: Iterable[str], n: int = 5) -> str:
    values = list(values)
    shown = ", ".join(values[:n])
    return shown + (", ..." if len(values) > n else "")


def read_tfs(
    path: str | os.PathLike,
    genes: Iterable[str] | None = None,
    dataset: str | None = None,
) -> list[str]:
    """Read a transcription-factor list, one symbol per line.

    Blank lines and ``#`` comments (whole-line or trailing) are ignored; duplicates
    are kept once, in file order.

    Parameters
    ----------
    path
        Text file of TF symbols.
    genes
        The data's gene names. When given, only TFs among them are returned,
        matched case-insensitively, in the data's spelling.
    dataset
        Dataset name, for error messages.

    Returns
    -------
    list of str
        TF symbols.

    Raises
    ------
    ScinterpInputError
        Missing or empty file, or no TF among ``genes``.
    """
    path = Path(path)
    _check_exists(path, "TF list", dataset)
    tfs: list[str] = []
    with open(path, encoding="utf-8-sig", newline=None) as handle:
        for line in handle:
            symbol = line.split("#", 1)[0].strip()
            if symbol:
                tfs.append(symbol)
    tfs = list(dict.fromkeys(tfs))
    if not tfs:
        raise ScinterpInputError(
            "the TF list is empty.",
            dataset=dataset,
            path=path,
            fix="write one TF gene symbol per line.",
        )
    if genes is None:
        return tfs

    lookup = _lookup(genes)
    found = list(dict.fromkeys(lookup[tf.upper()] for tf in tfs if tf.upper() in lookup))
    logger.info("%s: %d of %d TFs are genes of the data", path.name, len(found), len(tfs))
    if not found:
        raise ScinterpInputError(
            f"none of the {len(tfs)} TFs is a gene of the data (data genes e.g. "
            f"{_examples(lookup.values())}; TFs e.g. {_examples(tfs)}).",
            dataset=dataset,
            path=path,
            fix="check that the data's var_names are gene symbols of the same species as "
            "the TF list (not Ensembl IDs), or supply a matching list under 'tfs'.",
        )
    return found


def write_gmt(sets: Mapping[str, Iterable[str]], path: str | os.PathLike) -> Path:
    """Write gene sets as GMT (the description field is left as ``NA``).

    Parameters
    ----------
    sets
        Set name -> genes.
    path
        Output file; parent folders are created.

    Returns
    -------
    Path
        The written file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for name, members in sets.items():
        if "\t" in name or "\n" in name:
            raise ValueError(f"gene-set name {name!r} contains a tab or newline")
        lines.append("\t".join([name, "NA", *map(str, members)]))
    path.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
    return path
