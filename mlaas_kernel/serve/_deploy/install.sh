#!/bin/sh
# Installs what `mlaas serve BUNDLE_DIR` needs, and nothing else: the serving packages pinned in
# requirements-serve.txt, then the workbench wheel(s) in wheels/ with --no-deps (its full dependency
# list is for the Jupyter workbench, not for an endpoint).
#
# The Dockerfile beside it runs this script; tests/test_deploy.py runs the same file into a scratch
# environment and starts the server from it, so these steps are exercised.
#
#   sh install.sh --venv DIR       create a virtual environment at DIR and install into it
#   sh install.sh --python PYTHON  install into the environment of an existing interpreter
#
# pip's own settings apply (PIP_INDEX_URL, PIP_NO_INDEX, PIP_FIND_LINKS, ...).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
python=""
venv=""
usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --venv) [ $# -ge 2 ] || { echo "install.sh: --venv needs a folder" >&2; exit 2; }; venv=$2; shift 2 ;;
        --python) [ $# -ge 2 ] || { echo "install.sh: --python needs an interpreter" >&2; exit 2; }; python=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install.sh: unknown argument '$1' (expected --venv DIR or --python PYTHON)" >&2; exit 2 ;;
    esac
done
if [ -n "$python" ] && [ -n "$venv" ]; then
    echo "install.sh: give --venv DIR or --python PYTHON, not both" >&2; exit 2
fi
if [ -z "$python" ]; then
    [ -n "$venv" ] || { echo "install.sh: give --venv DIR or --python PYTHON" >&2; exit 2; }
    python3 -m venv "$venv"
    python=$venv/bin/python
fi
"$python" -m pip --version >/dev/null 2>&1 || { echo "install.sh: '$python' has no pip" >&2; exit 1; }

"$python" -m pip install --disable-pip-version-check -r "$here/requirements-serve.txt"
found=0
for wheel in "$here"/wheels/*.whl; do
    [ -e "$wheel" ] || continue
    found=1
    "$python" -m pip install --disable-pip-version-check --no-deps --force-reinstall "$wheel"
done
if [ "$found" = 0 ] && [ -s "$here/requirements-workbench.txt" ]; then
    "$python" -m pip install --disable-pip-version-check --no-deps -r "$here/requirements-workbench.txt"
fi
# Fails here, at build time, if the serving code needs a package the list above lacks
# (-I: the installed copy, never a source tree in the current folder).
"$python" -I -c "import mlaas_kernel, mlaas_kernel.serve, mlaas_kernel.cli; print('mlaas serving environment ready: mlaas_kernel', mlaas_kernel.__version__)"
