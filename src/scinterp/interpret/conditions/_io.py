"""Reading a ``normalized.h5ad`` for the conditions tests without loading its matrices."""

from __future__ import annotations

from contextlib import contextmanager


class LazyCells:
    """What the conditions tests read of an ``.h5ad``: ``obs``, ``var_names``, ``n_obs``
    and ``layers`` whose matrices stay on disk (anndata's sparse datasets: rows are read
    on demand, a slice or sorted positions at a time), so the count sums stream over row
    chunks and the classifiers read only the cells they sample."""

    def __init__(self, path):
        import anndata as ad
        import h5py

        self.path = str(path)
        self._file = h5py.File(path, "r")
        self.obs = ad.io.read_elem(self._file["obs"])
        self.var_names = ad.io.read_elem(self._file["var"]).index
        self.n_obs = len(self.obs)
        self.layers = {}
        group = self._file.get("layers")
        for name in group.keys() if group is not None else ():
            self.layers[name] = _on_disk(self._file["layers"][name])
        self.X = _on_disk(self._file["X"]) if "X" in self._file else None

    def close(self) -> None:
        self._file.close()


def _on_disk(elem):
    import anndata as ad
    import h5py

    if isinstance(elem, h5py.Group):  # CSR / CSC
        return ad.io.sparse_dataset(elem)
    return elem  # a dense h5py dataset, also sliceable by rows


@contextmanager
def open_cells(source):
    """An AnnData as it is, or a path opened as :class:`LazyCells` (closed after)."""
    if hasattr(source, "obs") and hasattr(source, "var_names"):
        yield source
        return
    cells = LazyCells(source)
    try:
        yield cells
    finally:
        cells.close()
