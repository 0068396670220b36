"""Run scikit-learn's IsolationForest on labelled CSV files and print one JSON
object per file, in the same shape as `go run ./iforest`.

    python3 sklearn_run.py [--seeds 3] [--trees 100] [--max-samples 256] FILE.csv...

Seeds are 0..seeds-1 (random_state). The AUC is the mean over the seeds; the
times are the fastest among them (the run least disturbed by other work), by
the wall clock and by the process's CPU time. Scores are -score_samples, so that higher
means more anomalous, as in pulsegate and golearn.
"""
import argparse
import csv
import json
import os
import statistics
import sys
import time

import numpy as np
import sklearn
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score

MIN_PASS = 0.25  # seconds: passes over all rows repeat until then, as in the Go runner


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--max-samples", type=int, default=256)
    ap.add_argument("--label-column", default="label")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    for path in args.files:
        with open(path, newline="") as f:
            header = next(csv.reader(f))
        names = [h.strip() for h in header]
        li = names.index(args.label_column)
        data = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
        y = data[:, li]
        X = np.delete(data, li, axis=1)
        n, d = X.shape
        inf = float("inf")
        aucs, fit, fit_cpu, score, score_cpu = [], inf, inf, inf, inf
        for s in range(args.seeds):
            t0, c0 = time.perf_counter(), time.process_time()
            f = IsolationForest(n_estimators=args.trees, max_samples=min(args.max_samples, n), random_state=s).fit(X)
            fit = min(fit, time.perf_counter() - t0)
            fit_cpu = min(fit_cpu, time.process_time() - c0)
            # Score all rows, again until MIN_PASS seconds have gone by.
            passes, t0, c0 = 0, time.perf_counter(), time.process_time()
            while passes == 0 or time.perf_counter() - t0 < MIN_PASS:
                scores = -f.score_samples(X)
                passes += 1
            score = min(score, (time.perf_counter() - t0) / passes)
            score_cpu = min(score_cpu, (time.process_time() - c0) / passes)
            aucs.append(roc_auc_score(y, scores))
        k = args.seeds
        print(json.dumps({
            "impl": "scikit-learn " + sklearn.__version__,
            "data": os.path.splitext(os.path.basename(path))[0],
            "rows": n, "columns": d, "seeds": k,
            "auc_mean": statistics.fmean(aucs),
            "auc_sd": statistics.stdev(aucs) if k > 1 else 0.0,
            "fit_seconds": fit, "fit_cpu_seconds": fit_cpu,
            "score_seconds": score, "score_cpu_seconds": score_cpu,
            "score_points_per_second": n / score,
            "score_cpu_points_per_second": n / score_cpu if score_cpu > 0 else 0.0,
        }), flush=True)


if __name__ == "__main__":
    sys.exit(main())
