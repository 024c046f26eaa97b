"""Motif files and databases: MEME read and write, JASPAR releases shipped with pyjaspar."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from scinterp.errors import ScinterpInputError
from scinterp.interpret.motifs._motif import DatabaseMotif, LearnedMotif, _normalize
from scinterp.interpret.motifs._options import DEFAULT_OPTIONS


def read_meme(path, with_nsites: bool = False) -> list[tuple]:
    """Read a MEME motif file: ``[(id, name, ppm (4, w)), ...]`` in file order.

    The MOTIF line's first word is the id, the rest (possibly empty) the name. With
    ``with_nsites`` each tuple also has the matrix's ``nsites`` (0 when absent).
    """
    motifs, current, rows, width, nsites = [], None, [], None, 0
    with open(path) as fh:
        for line in fh:
            line = line.strip()
            if line.startswith("MOTIF"):
                parts = line.split()
                current = (
                    parts[1] if len(parts) > 1 else f"motif_{len(motifs)}",
                    " ".join(parts[2:]),
                )
                rows, width = [], None
            elif current is not None and line.startswith("letter-probability"):
                fields = dict(
                    kv.split("=")
                    for kv in line.split(":", 1)[1].replace("= ", "=").split()
                    if "=" in kv
                )
                width = int(fields.get("w", 0))
                nsites = int(float(fields.get("nsites", 0)))
                rows = []
            elif current is not None and width is not None and line and len(rows) < width:
                rows.append([float(v) for v in line.split()[:4]])
                if len(rows) == width:
                    entry = (current[0], current[1], _normalize(np.asarray(rows).T))
                    motifs.append(entry + (nsites,) if with_nsites else entry)
                    current, width = None, None
    return motifs


def write_meme(path, motifs: Sequence[tuple[str, str, np.ndarray, int]]) -> None:
    """Write ``[(id, name, ppm (4, w), nsites), ...]`` as a MEME (version 4) motif file."""
    lines = [
        "MEME version 4",
        "",
        "ALPHABET= ACGT",
        "",
        "strands: + -",
        "",
        "Background letter frequencies",
        "A 0.25 C 0.25 G 0.25 T 0.25",
        "",
    ]
    for motif_id, name, ppm, nsites in motifs:
        ppm = _normalize(ppm)
        lines.append(f"MOTIF {motif_id} {name}".rstrip())
        lines.append(
            f"letter-probability matrix: alength= 4 w= {ppm.shape[1]} nsites= {int(nsites)} E= 0"
        )
        lines += [" ".join(f"{v:.6f}" for v in col) for col in ppm.T]
        lines.append("")
    Path(path).write_text("\n".join(lines) + "\n")


def load_motif_database(
    spec: str,
    *,
    collection: str = DEFAULT_OPTIONS.jaspar_collection,
    tax_group: str = DEFAULT_OPTIONS.jaspar_tax_group,
    dataset: str | None = None,
) -> list[DatabaseMotif]:
    """Reference motifs: a JASPAR release shipped with pyjaspar (offline) or a MEME file.

    Parameters
    ----------
    spec
        ``JASPAR2024`` (or another release pyjaspar ships), or the path of a MEME file.
    collection, tax_group
        JASPAR collection and taxonomic group (latest version of each matrix).

    Returns
    -------
    list of DatabaseMotif
        Names keep the database's spelling (JASPAR: ``SPI1``, ``NFE2::MAFK``);
        ``family`` is JASPAR's TF family ("" for MEME files).
    """
    spec = str(spec)
    if Path(spec).is_file():
        motifs = read_meme(spec)
        if not motifs:
            raise ScinterpInputError(
                "the motif database file has no motifs in MEME format.",
                dataset=dataset,
                path=spec,
                fix="give a MEME-format file (MOTIF lines with letter-probability matrices) "
                "or a JASPAR release name such as JASPAR2024.",
            )
        return [DatabaseMotif(i, n or i, "", p) for i, n, p in motifs]
    from pyjaspar import jaspardb

    releases = []
    try:
        releases = list(jaspardb().get_releases())
    except Exception:  # noqa: BLE001 - only used to word the error below
        pass
    if not spec.upper().startswith("JASPAR") or (releases and spec not in releases):
        raise ScinterpInputError(
            f"unknown motif database '{spec}': neither an existing MEME file nor a JASPAR "
            "release shipped with pyjaspar.",
            dataset=dataset,
            fix=f"set motif_database to one of {', '.join(releases) or 'JASPAR2024'} or to the "
            "path of a MEME-format motif file.",
        )
    jdb = jaspardb(release=spec)
    fetched = jdb.fetch_motifs(collection=collection, tax_group=[tax_group], all_versions=False)
    out = []
    for m in fetched:
        counts = np.array([m.counts[b] for b in "ACGT"], dtype=float)
        family = m.tf_family[0] if getattr(m, "tf_family", None) else ""
        out.append(DatabaseMotif(m.matrix_id, str(m.name), str(family), _normalize(counts, 0.01)))
    if not out:
        raise ScinterpInputError(
            f"JASPAR release {spec} has no {collection} {tax_group} motifs.",
            dataset=dataset,
            fix="choose another release, or give a MEME file.",
        )
    return out


def learned_from_meme(path, method: str) -> list[LearnedMotif]:
    """Motifs of a MEME file written by :func:`write_learned_meme` (``nsites`` kept)."""
    return [
        LearnedMotif(motif=i, method=method, ppm=p, n_seqlets=n)
        for i, _name, p, n in read_meme(path, with_nsites=True)
    ]


def write_learned_meme(
    path, motifs: Sequence[LearnedMotif], names: Mapping[str, str] | None = None
):
    """Learned motifs as MEME, each named by its match (``names``: motif -> TF) when given."""
    names = dict(names or {})
    write_meme(path, [(m.motif, names.get(m.motif, ""), m.ppm, m.n_seqlets) for m in motifs])
