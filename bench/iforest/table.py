"""Read the JSON lines of sklearn_run.py and the Go runner on stdin and print a
Markdown table: mean AUC, scoring points/s by CPU time, the ratios of
pulsegate's scoring speed to the others' (by CPU time, and in brackets by the
wall clock), and fit CPU time, per implementation."""
import json
import sys

rows, order = {}, []
for line in sys.stdin:
    line = line.strip()
    if not line.startswith("{"):
        continue
    r = json.loads(line)
    impl = "sklearn" if r["impl"].startswith("scikit-learn") else r["impl"]
    if r["data"] not in rows:
        rows[r["data"]] = {}
        order.append(r["data"])
    rows[r["data"]][impl] = r


def cell(r, key, fmt):
    return fmt.format(r[key]) if r else "-"


def ratio(a, b):
    if not a or not b:
        return "-"
    cpu = a["score_cpu_points_per_second"] / b["score_cpu_points_per_second"]
    wall = a["score_points_per_second"] / b["score_points_per_second"]
    return "{:.1f}x ({:.1f}x)".format(cpu, wall)


def fit(r):
    return "{:.1f}".format(r["fit_cpu_seconds"] * 1e3) if r else "-"


print("| data set | rows x cols | AUC sklearn | AUC golearn | AUC pulsegate "
      "| points/s sklearn | points/s golearn | points/s pulsegate "
      "| pulsegate / sklearn | pulsegate / golearn "
      "| fit ms sklearn | fit ms golearn | fit ms pulsegate |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for name in order:
    d = rows[name]
    s, g, p = d.get("sklearn"), d.get("golearn"), d.get("pulsegate")
    some = s or g or p
    print("| {} | {} x {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
        name, some["rows"], some["columns"],
        cell(s, "auc_mean", "{:.4f}"), cell(g, "auc_mean", "{:.4f}"), cell(p, "auc_mean", "{:.4f}"),
        cell(s, "score_cpu_points_per_second", "{:,.0f}"),
        cell(g, "score_cpu_points_per_second", "{:,.0f}"),
        cell(p, "score_cpu_points_per_second", "{:,.0f}"),
        ratio(p, s), ratio(p, g), fit(s), fit(g), fit(p)))
