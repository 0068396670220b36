#!/usr/bin/env bash
# Side by side on one core (taskset -c 0): scikit-learn's IsolationForest,
# golearn's trees.IsolationForest and pulsegate's model/iforest, on the same
# CSV files with the same parameters (100 trees, 256 rows per tree, height
# limit 8). Prints each run's JSON line, then a Markdown table with the AUCs,
# scoring points/s, fit times and the speed ratios. Speeds are by CPU time (the
# machine may be shared: CPU time leaves out the time others held the core),
# with the wall-clock ratios beside them; each is the fastest of the seeds.
#
#   bench/iforest/run.sh [FILE.csv ...]     (default: every ODDS set in shared/data/odds)
#
# Environment: SEEDS (default 3), TREES (100), MAX_SAMPLES (256), CPU (0),
# PULSEGATE_SHARED (default: the shared/ folder beside the repository).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bench="$(dirname "$here")"
repo="$(dirname "$bench")"
shared="${PULSEGATE_SHARED:-$(dirname "$repo")/shared}"
seeds="${SEEDS:-3}"; trees="${TREES:-100}"; max_samples="${MAX_SAMPLES:-256}"; cpu="${CPU:-0}"

if [ $# -eq 0 ]; then
  set -- "$shared"/data/odds/{breastw,annthyroid,mammography,shuttle,smtp,cover,http}.csv
fi
for f in "$@"; do [ -r "$f" ] || { echo "run.sh: cannot read $f (set PULSEGATE_SHARED?)" >&2; exit 2; }; done

# Debian's scikit-learn, for the system python3 (not a pyenv or venv one).
py=/usr/bin/python3
if ! "$py" -c 'import sklearn' 2>/dev/null; then
  echo "run.sh: installing python3-sklearn with apt-get" >&2
  if [ "$(id -u)" -eq 0 ]; then sudo=; else sudo=sudo; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-sklearn >/dev/null
fi
command -v taskset >/dev/null || { echo "run.sh: taskset (util-linux) is required" >&2; exit 2; }

bin="$(mktemp -d)"; trap 'rm -rf "$bin"' EXIT
(cd "$bench" && go build -o "$bin/iforest" ./iforest)

export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 GOMAXPROCS=1
out="$bin/results.jsonl"
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), taskset -c $cpu; seeds $seeds, trees $trees, max samples $max_samples" >&2
for f in "$@"; do
  taskset -c "$cpu" "$py" "$here/sklearn_run.py" --seeds "$seeds" --trees "$trees" --max-samples "$max_samples" "$f" | tee -a "$out"
  taskset -c "$cpu" "$bin/iforest" -seeds "$seeds" -trees "$trees" -max-samples "$max_samples" "$f" | tee -a "$out"
done
echo
"$py" "$here/table.py" < "$out"
