#!/usr/bin/env bash
# Installs scinterp into this conda env. Snakemake runs <env>.post-deploy.sh once, inside
# the env, right after creating it (Snakemake docs: "Providing post-deployment scripts").
#
# Why not a `pip: [-e ../]` entry in the env file: Snakemake 9 copies the env file to
# .snakemake/conda/<hash>.yaml and runs `conda env create` on that copy
# (snakemake/deployment/conda.py, Env.create), and conda runs pip in the folder of the file
# it was given, so a relative path resolves against .snakemake/conda/, not envs/. A pip
# entry would also install all of pyproject's dependencies (torch into every env);
# here --no-deps keeps each env to its own pinned list.
#
# Editable: Snakemake rebuilds an env only when its env/post-deploy files change, so a
# copied install would keep running old code after src/ changes; -e tracks src/.
# Identical in every envs/*.post-deploy.sh (tests/test_envs.py checks).
set -euo pipefail
# The repository: SCINTERP_ROOT (set by the workflow), else Snakemake's working directory.
root="${SCINTERP_ROOT:-$PWD}"
if ! grep -qs '^name = "scinterp"' "$root/pyproject.toml"; then
    echo "post-deploy: no scinterp checkout at '$root'. Run snakemake from the repository" \
        "root, or set SCINTERP_ROOT to it." >&2
    exit 1
fi
python -m pip install --no-deps --no-build-isolation --disable-pip-version-check -e "$root"
python -c "import scinterp; print('scinterp', scinterp.__version__, 'installed from', '$root')"
