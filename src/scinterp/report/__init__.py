"""What a user reads and takes away: the findings page (``summary``), the exports
(``export``: ``cell_activity.h5ad``, pySCENIC tables), the run record (``record``) and
shared plotting helpers (``plots``)."""
