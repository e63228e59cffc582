"""The CONCUR paper's tables, in their shapes, on the shared outcome data (a section of docs/RESULTS.md).

Every cell comes from the results dicts the pipeline wrote (results_work/<name>/results.json); the
paper's own figures (arXiv 2512.09386, as public summaries give them; its data are not public) stand in
a reference column. Operating points follow the paper's rule: the most accurate point of the weight
sweep whose VALIDATION cost is at most the best single strategy's validation cost.
"""
from __future__ import annotations

from typing import Any

# The paper's figures: (accuracy %, cost in 1e11 FLOPs) on its MMLU pool.
PAPER_ID = {"best single": (74.3, 41.63), "routellm-mf": (53.5, 10.20), "embedllm": (73.4, 34.21),
            "rtr": (74.3, 40.52), "concur": (75.2, 36.50)}
PAPER_OOD = {"best single": (62.3, None), "rtr": (62.4, 45.00), "concur": (62.6, 43.23)}
PAPER_GLOBAL_MINUS_LOCAL = {"low budget": 5.7, "high budget": 4.0}  # points, "up to"
PAPER_CONTINUAL = {"concur": 1.00, "embedllm": 3.08, "rtr": 7.66}  # update time relative to CONCUR's
PAPER_ABLATION = {"concur (general only)": (73.3, 35.53), "concur (task-specific only)": (72.3, 37.32),
                  "concur": (75.2, 36.50)}
TABLE2_ROWS = ("best single", "routellm-mf", "embedllm", "rtr", "knn", "shared", "concur", "ensemble")


def _f(v: Any, nd: int = 1) -> str:
    return "n/a" if v is None else f"{v:.{nd}f}"


def _acc(v: Any, ci: Any = None) -> str:
    if v is None:
        return "n/a"
    s = f"{100 * v:.1f}"
    return s + (f" [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]" if ci and ci[0] is not None else "")


def _diff(v: Any, ci: Any = None) -> str:
    if v is None:
        return "n/a"
    s = f"{100 * v:+.1f}"
    return s + (f" [{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]" if ci and ci[0] is not None else "")


def _point(res: dict[str, Any], name: str) -> dict[str, Any] | None:
    """Accuracy/cost (with intervals) at the operating point of a method ('best single' included)."""
    cv = res["curves"]
    if name == "best single":
        return cv.get("best_single_point")
    r = cv["routers"].get(name)
    return r["operating_point"] if r else None


def _verdict(ci: Any) -> str:
    if not ci or ci[0] is None:
        return "n/a"
    return "better" if ci[0] > 0 else ("worse" if ci[1] < 0 else "no difference")


def table2(results: list[dict[str, Any]], title: str, paper: dict[str, tuple]) -> list[str]:
    """Method x data set: accuracy (%) and cost at the validation-chosen operating point, and the averages."""
    if not results:
        return []
    head = "| method | " + " | ".join(f"{r['name']}: accuracy % | cost" for r in results) + \
           " | average accuracy % | average cost / best single's | paper: accuracy % / cost |"
    L = [title, "", head, "|---|" + "---|---|" * len(results) + "---|---|---|"]
    for name in TABLE2_ROWS:
        pts = [_point(res, name) for res in results]
        if all(p is None for p in pts):
            continue
        cells, accs, rel = [], [], []
        for res, pt in zip(results, pts):
            if pt is None:
                cells += ["", ""]
                continue
            cells += [_acc(pt["accuracy"], pt.get("accuracy_ci")), _f(pt["cost"], 2)]
            accs.append(pt["accuracy"])
            rel.append(pt["cost"] / res["curves"]["best_single_point"]["cost"])
        ref = paper.get(name)
        ref_s = "" if ref is None else f"{ref[0]:.1f} / {_f(ref[1], 2)}"
        avg = _acc(sum(accs) / len(accs)) if len(accs) == len(results) else ""
        avg_c = f"{100 * sum(rel) / len(rel):.0f}%" if len(rel) == len(results) else ""
        L.append(f"| {name} | " + " | ".join(cells) + f" | {avg} | {avg_c} | {ref_s} |")
    L += ["", "Accuracy at the operating point minus CONCUR's (points; paired 95% bootstrap interval over the same "
          "test resamples):", "",
          "| method | " + " | ".join(r["name"] for r in results) + " |", "|---|" + "---|" * len(results)]
    for name in TABLE2_ROWS:
        if name in ("concur", "best single"):
            continue
        cells = []
        for res in results:
            pt = _point(res, name)
            cells.append(_diff(pt.get("accuracy_minus_concur"), pt.get("accuracy_minus_concur_ci")) if pt else "")
        if any(cells):
            L.append(f"| {name} | " + " | ".join(cells) + " |")
    cells = []
    for res in results:
        c = _point(res, "concur")
        cells.append(_diff(c["gain_vs_best_single"], c["gain_ci"]) if c else "")
    L.append("| best single (CONCUR - it) | " + " | ".join(cells) + " |")
    return L + [""]


def table4(results: list[dict[str, Any]]) -> list[str]:
    rows = [r for r in results if r.get("matched_spend")]
    if not rows:
        return []
    n = max(len(r["matched_spend"]["rows"]) for r in rows)
    L = ["**Table 4 shape: global vs local at equal realised spend** (CONCUR; accuracy difference global - local in "
         "points at 5 spend levels from low to high, each mode's budget calibrated on validation to that spend; "
         f"paired 95% bootstrap interval). Paper: global ahead by up to +{PAPER_GLOBAL_MINUS_LOCAL['low budget']} "
         f"points at low and +{PAPER_GLOBAL_MINUS_LOCAL['high budget']} at high budgets.", "",
         "| data set | " + " | ".join(f"level {i + 1}" for i in range(n)) + " | global >= local at every level |",
         "|---|" + "---|" * (n + 1)]
    for res in rows:
        ms = res["matched_spend"]["rows"]
        cells = [f"{_diff(r['global_minus_local'], r['global_minus_local_ci'])} (spend {_f(r['level'], 1)})" for r in ms]
        allwin = all(r["global_minus_local"] >= 0 for r in ms)
        L.append(f"| {res['name']} | " + " | ".join(cells) + f" | {'yes' if allwin else 'no'} |")
    return L + [""]


def table5(results: list[dict[str, Any]]) -> list[str]:
    rows = [r for r in results if r.get("continual")]
    if not rows:
        return []
    L = ["**Table 5 shape: continual routing** (Setting 1 -> Setting 2; update wall-clock relative to CONCUR's, "
         "modular routers train only the new strategies, the others retrain from scratch, \"-FS\"; Setting-2 accuracy "
         "% and cost at the operating point). Paper: " +
         ", ".join(f"{k} {v:.2f}x" for k, v in PAPER_CONTINUAL.items()) + ".", "",
         "| data set | router | modular | update (s) | vs CONCUR | paper | Setting-2 accuracy % | cost |",
         "|---|---|---|---|---|---|---|---|"]
    for res in rows:
        ct = res["continual"]
        for name, r in ct["routers"].items():
            s2 = ct.get("setting2", {}).get(name, {}).get("operating_point") or {}
            ref = PAPER_CONTINUAL.get(name)
            L.append(f"| {res['name']} | {name}{'' if r['modular'] else '-FS'} | {'yes' if r['modular'] else 'no'} | "
                     f"{_f(r['update_seconds'])} | {_f(r.get('time_vs_concur'), 2)}x | "
                     f"{'' if ref is None else f'{ref:.2f}x'} | {_acc(s2.get('accuracy'))} | {_f(s2.get('cost'), 2)} |")
    return L + [""]


def table7(results: list[dict[str, Any]]) -> list[str]:
    labels = ("concur (general only)", "concur (task-specific only)", "concur")
    rows = [r for r in results if all(lab in r["curves"]["routers"] for lab in labels)]
    if not rows:
        return []
    L = ["**Table 7 shape: representation ablation** (CONCUR's predictors on the general-purpose part [task; model; "
         "decoding text embeddings] only, the task-specific part [learned model/decoding embeddings; projected task] "
         "only, and both; first training seed each; accuracy % and cost at the operating point, and AIQ).", "",
         "| data set | representation | accuracy % | cost | AIQ | paper: accuracy % / cost |", "|---|---|---|---|---|---|"]
    for res in rows:
        for lab in labels:
            r = res["curves"]["routers"][lab]
            op = r["operating_point"]["per_seed"][0]
            aiq = r["per_seed"][0]["aiq"] if r.get("per_seed") else r["aiq"]
            ref = PAPER_ABLATION[lab]
            name = "both (CONCUR)" if lab == "concur" else lab.split("(")[1].rstrip(")")
            L.append(f"| {res['name']} | {name} | {_acc(op['accuracy'])} | {_f(op['cost'], 2)} | {aiq:.4f} | "
                     f"{ref[0]:.1f} / {ref[1]:.2f} |")
    return L + [""]


def reproduces(ind: list[dict[str, Any]], ood: list[dict[str, Any]]) -> list[str]:
    """What of the paper's claims holds here, written from the numbers."""
    L = ["**What reproduces and what does not** (written from the tables above):", ""]

    def vs_single(res: dict[str, Any]) -> str:
        c = _point(res, "concur")
        return (f"{res['name']} {_diff(c['gain_vs_best_single'], c['gain_ci'])} points "
                f"({_verdict(c['gain_ci'])}) at {100 * c['cost'] / res['curves']['best_single_point']['cost']:.0f}% of "
                "its cost")

    with_concur = [r for r in ind if _point(r, "concur")]
    if with_concur:
        L.append("- *CONCUR above the best single strategy at no more cost* (paper: +0.9 points at 88% of the cost): "
                 + "; ".join(vs_single(r) for r in with_concur) + ".")
    if ind:
        for base in ("routellm-mf", "embedllm", "rtr", "knn", "shared"):
            parts = []
            for res in ind:
                pt = _point(res, base)
                if pt and pt.get("accuracy_minus_concur_ci"):
                    ci = pt["accuracy_minus_concur_ci"]
                    parts.append(f"{res['name']} {_verdict([-ci[1], -ci[0]])}")
            if parts:
                L.append(f"- *CONCUR vs {base}* (accuracy at the operating point, paired interval): " + ", ".join(parts) + ".")
    ood_concur = [r for r in ood if _point(r, "concur")]
    if ood_concur:
        L.append("- *Out of distribution, CONCUR vs the best single strategy* (paper: +0.3 points): "
                 + "; ".join(vs_single(r) for r in ood_concur) + ".")
    t4 = [r for r in ind if r.get("matched_spend")]
    if t4:
        parts = []
        for r in t4:
            d = [x["global_minus_local"] for x in r["matched_spend"]["rows"]]
            parts.append(f"{r['name']} {'yes' if min(d) >= 0 else 'no'} (from {100 * min(d):+.1f} to {100 * max(d):+.1f} points)")
        L.append("- *Global >= local at equal realised spend at every level* (paper: yes, by up to +5.7): " + "; ".join(parts) + ".")
    t5 = [r for r in ind if r.get("continual")]
    if t5:
        parts = []
        for r in t5:
            fs = [f"{n} {x['time_vs_concur']:.2f}x" for n, x in r["continual"]["routers"].items()
                  if not x["modular"] and x.get("time_vs_concur") is not None]
            parts.append(f"{r['name']}: " + ", ".join(fs))
        L.append("- *Retraining a non-modular router from scratch costs more than CONCUR's update* (paper: 3.08x and "
                 "7.66x; > 1x means CONCUR's update is faster): " + "; ".join(parts) + ".")
    t7 = [r for r in ind if "concur (general only)" in r["curves"]["routers"]]
    if t7:
        parts = []
        for r in t7:
            acc = {lab: r["curves"]["routers"][lab]["operating_point"]["per_seed"][0]["accuracy"]
                   for lab in ("concur", "concur (general only)", "concur (task-specific only)")}
            best = acc["concur"] >= max(acc["concur (general only)"], acc["concur (task-specific only)"])
            parts.append(f"{r['name']} {'yes' if best else 'no'}")
        L.append("- *Both representations beat either alone* (paper: +1.9 and +2.9 points): " + ", ".join(parts) + ".")
    return L + [""]


def render(results: list[dict[str, Any]]) -> list[str]:
    ind = [r for r in results if not r.get("ood")]
    ood = [r for r in results if r.get("ood")]
    L = ["## The paper's tables on the shared data", "",
         "The CONCUR paper's table shapes on the public outcome data, with the paper's figures (its own MMLU pool; "
         "its data are not public) in a reference column. Accuracies in %, costs in each data set's unit "
         "(MMLU-Pro: 1e11 FLOPs; RouterBench, RouteLLM: 1e-6 USD), so only the per-data-set cells and the "
         "average accuracy compare across rows; the average cost is relative to each data set's best single "
         "strategy. Operating point: the most accurate weight whose validation cost is at most the best single "
         "strategy's (the paper's rule). 95% bootstrap intervals over test tasks in brackets.", ""]
    L += table2(ind, "**Table 2 shape: in distribution** (test tasks from the same sources as training).", PAPER_ID)
    L += table2(ood, "**Out of distribution**: MMLU-Pro trained and validated on questions from the original MMLU and "
                     "tested on those MMLU-Pro added from other sources; RouterBench leave one benchmark out (train and "
                     "validate on two of arc-challenge / mbpp / winogrande, test on the third). One training seed.",
                PAPER_OOD)
    L += table4(ind) + table5(ind) + table7(ind) + reproduces(ind, ood)
    return L
