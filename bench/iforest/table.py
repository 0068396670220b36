"""Read the JSON lines of sklearn_run.py and `go run ./iforest` on stdin and
print a Markdown table: AUC, scoring points/s and fit time per implementation,
and the ratios of pulsegate's scoring speed to the others'."""
import json
import sys

rows = {}
order = []
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


def f(r, key, fmt):
    return fmt.format(r[key]) if r else "-"


def ratio(a, b):
    if not a or not b:
        return "-"
    return "{:.1f}x".format(a["score_points_per_second"] / b["score_points_per_second"])


print("| data set | rows x cols | AUC sklearn | AUC golearn | AUC pulsegate | points/s sklearn | points/s golearn | points/s pulsegate | pulsegate / sklearn | pulsegate / golearn | fit ms sklearn | fit ms golearn | fit ms pulsegate |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for name in order:
    d = rows[name]
    s, g, p = d.get("sklearn"), d.get("golearn"), d.get("pulsegate")
    any_ = s or g or p
    fit = lambda r: "{:.1f}".format(r["fit_seconds"] * 1e3) if r else "-"
    print("| {} | {} x {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
        name, any_["rows"], any_["columns"],
        f(s, "auc_mean", "{:.4f}"), f(g, "auc_mean", "{:.4f}"), f(p, "auc_mean", "{:.4f}"),
        f(s, "score_points_per_second", "{:,.0f}"), f(g, "score_points_per_second", "{:,.0f}"),
        f(p, "score_points_per_second", "{:,.0f}"),
        ratio(p, s), ratio(p, g), fit(s), fit(g), fit(p)))
