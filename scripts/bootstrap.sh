# Sourced by scripts/dev and scripts/test: make .venv/ and install the locked dependencies.
#   DARKROOM_INSTALL=runtime (scripts/dev): requirements.lock, what runs Darkroom on local
#       files; requirements-s3.lock (that plus boto3) when the settings store files on S3
#       (STORAGE_BACKEND=s3 in the environment or in .env)
#   DARKROOM_INSTALL=dev     (scripts/test): requirements-dev.lock, plus S3 and the test tools
# Re-installs only when the lock file changed since the last install. pip's progress shows.
set -euo pipefail
PY=${PYTHON:-python3}
kind=${DARKROOM_INSTALL:-dev}
lock=requirements.lock
[ "$kind" = dev ] && lock=requirements-dev.lock
if [ "$kind" = runtime ]; then
    # The environment wins over .env, as in config/settings.py (read_env(overwrite=False)).
    storage=${STORAGE_BACKEND:-}
    if [ -z "$storage" ] && [ -f .env ]; then
        storage=$(sed -n -E "s/^[[:space:]]*(export[[:space:]]+)?STORAGE_BACKEND[[:space:]]*=[[:space:]]*[\"']?([A-Za-z0-9]*).*/\2/p" .env | tail -n 1)
    fi
    [ "$storage" = s3 ] && lock=requirements-s3.lock
fi
if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv"
    "$PY" -m venv .venv
fi
stamp=.venv/.darkroom-installed-${lock%.lock}
if [ ! -f "$stamp" ] || [ "$lock" -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "==> installing Darkroom's $kind dependencies from $lock into .venv (a few minutes the first time)"
    .venv/bin/python -m pip install --progress-bar on --upgrade pip
    .venv/bin/python -m pip install --progress-bar on --require-hashes -r "$lock"
    # The project itself, editable; its dependencies came from the lock above.
    .venv/bin/python -m pip install --no-deps -e .
    touch "$stamp"
fi
