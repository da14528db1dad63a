#!/usr/bin/env bash
# Regenerate results/quick/, the committed reference output of the quick preset, with the
# README's main command (offline; a few minutes on 2 cores). Extra arguments go to `rbconvex run`
# (e.g. --jobs 1). The folder is removed first so that every cell is recomputed (a plain rerun
# of `rbconvex run` would resume and skip the finished cells).
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf results/quick
start=$(date +%s)
rbconvex run --preset quick --out results/quick "$@"
echo "regenerated results/quick in $(( $(date +%s) - start )) s"
