"""docs/RESULTS.md and its plots, rendered from the results dicts (no number typed by hand)."""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from .io import write_text_atomic
from .plotting import finish_accuracy_cost

ROUTER_ORDER = ("concur", "kNN", "shared model", "concur+kNN ensemble")


def git_commit(repo: Path) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo, capture_output=True,
                               text=True, timeout=10).stdout.strip()
        return out.stdout.strip() + (" (with uncommitted changes)" if dirty else "") if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _f(v: Any, nd: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{nd}f}"


def _ci(ci: Any, nd: int = 3) -> str:
    return "" if not ci or ci[0] is None else f" [{ci[0]:.{nd}f}, {ci[1]:.{nd}f}]"


def _pts(v: Any) -> str:
    return "n/a" if v is None else f"{100 * v:+.1f}"


def _ci_pts(ci: Any) -> str:
    return "" if not ci or ci[0] is None else f" [{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]"


def plot_dataset(path: Path, res: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cv = res["curves"]
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    try:
        styles = {"concur": ("tab:blue", "-"), "kNN": ("tab:green", "-"), "shared model": ("tab:purple", "-"),
                  "concur+kNN ensemble": ("tab:cyan", ":"), "singles hull": ("tab:gray", "--"),
                  "oracle-probability ceiling": ("tab:red", "--")}
        for name, (color, ls) in styles.items():
            c = cv["curves"].get(name)
            if not c:
                continue
            ax.plot(c["hull_cost"], c["hull_acc"], ls, color=color, label=name, lw=1.6)
            if name in ("concur", "kNN", "shared model"):
                pts = c["points"]
                ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=4, color=color, alpha=0.35)
        ax.scatter([s["cost"] for s in cv["singles"]], [s["accuracy"] for s in cv["singles"]], marker="s", s=18,
                   color="black", label="single strategies", zorder=5)
        ax.set_xscale("log")
        finish_accuracy_cost(fig, ax, path, f"mean realised cost per task ({res['cost_unit']}, log scale)",
                             res["name"] + ": non-decreasing convex hulls (test)", dpi=90, title_size=10, legend_size=7)
    finally:
        plt.close(fig)


def _dataset_section(res: dict[str, Any], png: str) -> list[str]:
    cv, info = res["curves"], res["import_info"]
    unit = res["cost_unit"]
    L = [f"## {res['title']}", ""]
    L.append(f"Splits (tasks): train {res['split_sizes']['train']}, validation {res['split_sizes']['val']}, "
             f"test {res['split_sizes']['test']}. Cost unit: {unit}. Cost formula: "
             f"{info.get('cost_formula') or info.get('cost') or 'RouterBench measured total_cost (USD per query) x 1e6'}.")
    L.append(f"Best single strategy on validation: **{cv['best_single']}**; cheapest {cv['cheapest_single']} "
             f"(cost {_f(cv['c_min'], 2)}), dearest {cv['dearest_single']} (cost {_f(cv['c_max'], 2)}) — the AIQ range.")
    L.append("")
    L.append(f"![accuracy-cost hulls]({png})")
    L.append("")
    L.append("| single strategy | test accuracy | test cost | validation accuracy |")
    L.append("|---|---|---|---|")
    for s in cv["singles"]:
        L.append(f"| {s['name']} | {_f(s['accuracy'])} | {_f(s['cost'], 2)} | {_f(s['val_accuracy'])} |")
    L.append(f"| oracle (cheapest correct) | {_f(cv['oracle']['accuracy'])} | {_f(cv['oracle']['cost'], 2)} | |")
    L.append(f"| random (uniform, expected) | {_f(cv['random']['accuracy'])} | {_f(cv['random']['cost'], 2)} | |")
    L.append("")
    L.append("Routers (weighted sweep over the same routing code; seed means over "
             f"{len(res['seeds'])} training seeds where a router is trained; 95% bootstrap intervals over "
             f"{res['n_boot']} resamples of the test tasks in brackets). `acc@best cost` and `cost@best acc` are "
             "read off the hull at the best single strategy's test cost/accuracy; the operating point is the "
             "weight chosen on validation (best validation accuracy within the best single's validation cost).")
    L.append("")
    L.append("| router | AIQ | gap recovered | acc@best cost (gain, points) | cost@best acc | "
             "val-chosen point: accuracy (gain, points) | its cost | per-seed AIQ |")
    L.append("|---|---|---|---|---|---|---|---|")
    for name in ("singles hull", "oracle-probability ceiling") + ROUTER_ORDER:
        r = cv["routers"].get(name)
        if r is None:
            continue
        gap = f"{_f(r.get('gap_recovered'))}{_ci(r.get('gap_recovered_ci'))}" if "gap_recovered" in r else ""
        op = r.get("operating_point")
        ops = (f"{_f(op['accuracy'])}{_ci(op['accuracy_ci'])} ({_pts(op['gain_vs_best_single'])}{_ci_pts(op['gain_ci'])})"
               if op else "")
        opc = f"{_f(op['cost'], 2)}{_ci(op['cost_ci'], 2)}" if op else ""
        seeds = ", ".join(_f(p["aiq"], 4) for p in r.get("per_seed", [])) if r.get("n_seeds", 1) > 1 else ""
        L.append(f"| {name} | {_f(r['aiq'], 4)}{_ci(r['aiq_ci'], 4)} | {gap} | {_f(r['acc_at_ref_cost'])} "
                 f"({_pts(r['gain_at_ref_cost'])}{_ci_pts(r['gain_at_ref_cost_ci'])}) | "
                 f"{'not reached' if r['cost_at_ref_acc'] is None else _f(r['cost_at_ref_acc'], 2)}{_ci(r['cost_at_ref_acc_ci'], 2)} | {ops} | {opc} | {seeds} |")
    L.append("")
    c, k = cv["routers"]["concur"], cv["routers"]["kNN"]
    L.append(f"Target AIQ(concur) >= AIQ(kNN): **{'met' if c['aiq'] >= k['aiq'] else 'NOT met'}** "
             f"(concur {_f(c['aiq'], 4)} vs kNN {_f(k['aiq'], 4)}, difference {_f(c['aiq'] - k['aiq'], 4)}"
             + (f", paired 95% bootstrap interval {_ci(c['aiq_minus_knn_ci'], 4).strip()}" if c.get('aiq_minus_knn_ci') else "")
             + ").")
    if res["name"] == "mmlu_pro":
        g = c["gain_at_ref_cost"]
        L.append(f"Target accuracy at the best single's cost >= best single + 1 point: "
                 f"**{'met' if g >= 0.01 else 'NOT met'}** (hull: {_pts(g)} points{_ci_pts(c['gain_at_ref_cost_ci'])}; "
                 f"validation-chosen operating point: {_pts(c['operating_point']['gain_vs_best_single'])} points).")
    L.append("")
    if "weak_strong" in res:
        ws = res["weak_strong"]
        L.append(f"Weak/strong metrics (weak {ws['weak']}, accuracy {_f(ws['acc_weak'])}; strong {ws['strong']}, "
                 f"accuracy {_f(ws['acc_strong'])}). APGR = mean performance-gap recovered over call rates 0..1; "
                 "CPT(q) = share of calls to the strong model needed to recover q of the gap; AUROC of 'weak model is "
                 "right' scores P(weak correct); band columns = mean accuracy of the call-rate curve in that band of "
                 "strong-model call rates.")
        L.append("")
        bands = [k for k in next(iter(ws["routers"].values())) if k.startswith("band ")]
        L.append("| router | APGR | CPT(50%) | CPT(80%) | AUROC weak right | " + " | ".join(bands) + " |")
        L.append("|---|---|---|---|---|" + "---|" * len(bands))
        for name, m in ws["routers"].items():
            L.append(f"| {name} | {_f(m['apgr'])} | {_f(m['cpt50'])} | {_f(m['cpt80'])} | {_f(m['auroc_weak_right'])} | "
                     + " | ".join(_f(m[b]) for b in bands) + " |")
        L.append("")
    bud = res["budgets"]
    L.append("Budgeted routing (every training seed of each router: accuracy and spend are seed means, the "
             "accuracy range over seeds in brackets; budgets per task spaced geometrically between the cheapest and "
             "the dearest single strategy's mean training cost; the constraint holds on predicted cost, so realised "
             "spend can exceed it):")
    L.append("")
    L.append("| router | mode | budget | accuracy | realised cost | predicted cost | realised over budget |")
    L.append("|---|---|---|---|---|---|---|")
    for r in bud["rows"]:
        if "error" in r:
            L.append(f"| {r['router']} | {r['mode']} | {_f(r['budget'], 2)} | infeasible | | | |")
            continue
        over = r["realised_cost"] - r["budget"]
        rng = r.get("accuracy_range")
        spread = f" [{rng[0]:.3f}, {rng[1]:.3f}]" if rng and r.get("n_seeds", 1) > 1 else ""
        n = r.get("n_seeds", 1)
        seeds_over = r.get("seeds_over_budget", int(over > 0))
        pct = f"+{100 * over / r['budget']:.1f}%"
        if n > 1:  # how many seeds overspent, and the mean spend's excess
            verdict = f"{seeds_over} of {n} seeds" + (f", mean {pct}" if over > 0 else "")
        else:
            verdict = f"yes, {pct}" if over > 0 else "no"
        L.append(f"| {r['router']} | {r['mode']} | {_f(r['budget'], 2)} | {_f(r['accuracy'])}{spread} | "
                 f"{_f(r['realised_cost'], 2)} | {_f(r['predicted_cost'], 2)} | {verdict} |")
    L.append("")
    if "continual" in res:
        ct = res["continual"]
        L.append("### Continual routing (the paper's Table 5 protocol)")
        L.append("")
        L.append(f"Setting 1: the large strategies {', '.join(ct['large'])}. Setting 2 adds {', '.join(ct['small'])}. "
                 f"CONCUR trained only {len(ct['setting2_trained'])} new predictors in Setting 2 "
                 f"({', '.join(ct['setting2_trained'])}) and skipped {len(ct['setting2_skipped'])} current ones; the "
                 "shared model was retrained from scratch on all strategies (both on one CPU thread).")
        L.append("")
        L.append("| | training wall-clock for the update (s) | Setting-2 AIQ | val-chosen point: accuracy | its cost |")
        L.append("|---|---|---|---|---|")
        for name, secs in (("concur", ct["concur_update_seconds"]), ("shared model", ct["shared_retrain_seconds"])):
            s2 = ct["setting2"][name]
            L.append(f"| {name} | {_f(secs, 1)} | {_f(s2['aiq'], 4)}{_ci(s2['aiq_ci'], 4)} | "
                     f"{_f(s2['operating_point']['accuracy'])} | {_f(s2['operating_point']['cost'], 2)} |")
        L.append("")
        L.append(f"Ratio shared / concur training time: {_f(ct['ratio_shared_over_concur'], 2)}x. Setting-1 predictor and "
                 f"prediction files byte-identical after the update (SHA-256 of {ct['n_files_checked']} files before and "
                 f"after): **{'yes' if ct['byte_identical'] else 'NO'}**; identical to the files of the main seed run: "
                 f"{'yes' if ct['identical_to_main_run'] else 'no'}.")
        L.append("")
    t = res["timings"]
    L.append("Step times (s): " + ", ".join(f"{k} {v:.1f}" for k, v in t.items()) +
             f". Embeddings: {res['embedding_status']}.")
    L.append("")
    return L


METHOD_NOTES = """\
## Definitions

- **Routers.** *concur*: CONCUR's per-strategy predictors (predictor.py defaults). *kNN*: per-strategy
  k-nearest neighbours on cosine similarity of task embeddings, k chosen on validation (concur/knn.py).
  *shared model*: ONE MLP over [task embedding; model-description embedding; decoding-description embedding]
  with two outputs (logit of P(correct), standardised log cost), trained on all strategies' rows together,
  checkpoint and temperature chosen on validation (concur/baselines.py). *concur+kNN ensemble*: the mean of
  concur's and kNN's P(correct) and cost (a lever, see below; `predictor.knn_blend: 0.5` in predictor.py). Every router's predictions are written as
  `pred_<strategy>.csv` / `pred_val_<strategy>.csv` and routed by the same code (concur/routing.py): per task
  argmax of W*p - (1-W)*c over a dense grid of weights W (1-W from 1 down to 1e-9 geometrically, plus 0 and 1).
- **Hull.** The router's operating points plus the cheapest single strategy's point (a router can always send
  everything to the cheapest strategy), Pareto-filtered, upper convex hull: non-decreasing and concave;
  mixing two operating points at random realises any point on a hull segment. Right of its last vertex the hull
  is flat; because every hull starts at the cheapest single strategy's cost, it is defined on the whole AIQ range.
- **AIQ** = area under the hull over [cheapest single cost, dearest single cost] divided by that range.
  *Gap recovered* = (AIQ - AIQ of the singles' hull) / (AIQ of the oracle-probability router - AIQ of the singles'
  hull); the oracle-probability router is the weighted router fed true labels and true costs.
- **Bootstrap.** Test tasks resampled with replacement; every router, the singles and the ceiling see the same
  resamples; for trained routers the metric is averaged over seeds inside each resample, so the interval is the
  interval of the seed mean.
- **Weak/strong metrics** (two-strategy pools). The escalation order is (p_strong - p_weak) / (c_strong - c_weak)
  of the router's predictions (the order in which the weight sweep moves tasks to the strong model). PGR(x) =
  (acc(x) - acc_weak) / (acc_strong - acc_weak) at strong-model call rate x; APGR is its mean over x in [0, 1];
  CPT(q) the least call rate with PGR >= q. RouterXBench's LPM/MPM/HCR definitions could not be retrieved offline,
  so the report uses explicit call-rate bands instead: mean accuracy of the call-rate curve over x in [0, 1/3],
  [1/3, 2/3] and [2/3, 1].
"""


def _predictor_levers(lv: dict[str, Any] | None) -> list[str]:
    """The table written by benchmarks/bench_predictor_levers.py (CONCUR variants on MMLU-Pro, one seed)."""
    if not lv:
        return ["Predictor-setting levers: not measured in this work folder "
                "(run `python benchmarks/bench_predictor_levers.py` before `make results`).", ""]
    L = [f"CONCUR training and embedding variants on MMLU-Pro (`benchmarks/bench_predictor_levers.py`, run "
         f"{lv['date']}; one seed unless a seed is given; **choose on the val columns**, test for information). "
         "val/test AIQ are of the weighted sweep on that split's predictions; gain = hull accuracy at the best "
         "single's cost minus its accuracy (points). `[ref]` rows are this work folder's routers; "
         "`+kNN` averages P(correct) and cost with the kNN router; `true cost (bound)` routes the variant's "
         "P(correct) with the realised costs (what a perfect cost model would add).", "",
         "| variant | embeddings | settings | val logloss | val AUROC | val cost MAE | val AIQ | val gain | "
         "test AIQ | test gain |", "|---|---|---|---|---|---|---|---|---|---|"]
    adopted = lv.get("adopted", "eval1_bs256")
    for row in lv["rows"]:
        name = row["variant"]
        base = name.split(" ")[0]
        group = name.endswith(" seeds)")  # '<base> (mean of k seeds)'
        if " " in name and base not in (adopted, *lv.get("show_posthoc", [])) and not name.startswith("[ref]") \
                and not group:
            continue  # the +kNN / bound rows are shown for the adopted variant only
        v = (lv["variants"].get(f"{base}_s0") if group else None) or lv["variants"].get(base, {})
        settings = ", ".join(f"{k} {x}" for k, x in v.get("settings", {}).items()) or "reference defaults"
        if v.get("seed") and not group:
            settings += f", seed {v['seed']}"
        if base == adopted and name == base:
            name += " (adopted)"
        emb = row.get("embeddings")
        if not isinstance(emb, str) or not emb:
            emb = "as in this report" if name.startswith("[ref]") else v.get("embeddings", "")
        L.append(f"| {name} | {emb} | {settings if v else ''} | {_f(row['val_logloss'], 4)} | "
                 f"{_f(row['val_auroc'], 4)} | {_f(row['val_cost_mae'], 1)} | {_f(row['val_aiq'], 4)} | "
                 f"{_f(row['val_gain'], 2)} | {_f(row['test_aiq'], 4)} | {_f(row['test_gain'], 2)} |")
    return L + [""]


def render(results: list[dict[str, Any]], meta: dict[str, Any], docs: Path) -> Path:
    """Write docs/RESULTS.md and docs/results_<name>.png (atomically); returns the markdown path."""
    docs.mkdir(parents=True, exist_ok=True)
    L = ["# Results on real outcome data", "",
         f"Generated by `make results` (`python results.py`); do not edit by hand. Commit: `{meta['commit']}`. "
         f"Run date: {meta['date']}. Total runtime of this run: {meta['runtime_s']:.0f} s "
         f"({meta['runtime_s'] / 60:.1f} min) on {meta['machine']}; {meta['cached_note']}", "",
         f"Seeds: split seed 0 (prepare_data.py), predictor training seeds {meta['seeds']}, bootstrap seed "
         f"{meta['boot_seed']}. Embedding model: {meta['embedding_model']}, dtype {meta['embedding']['dtype']}, "
         f"max_seq_length {meta['embedding']['max_seq_length'] or 'the model limit (256)'} tokens. "
         f"CONCUR predictor settings differing from the reference defaults: "
         f"{', '.join(f'{k} {v}' for k, v in meta.get('predictor', {}).items()) or 'none'} (chosen on MMLU-Pro "
         f"validation with `benchmarks/bench_predictor_levers.py`). Shared data: `{meta['data_root']}`.", ""]
    summary = ["| data set | AIQ concur | AIQ kNN | concur - kNN (paired 95% CI) | AIQ shared | AIQ singles hull | "
               "AIQ ceiling | concur gain at best-single cost (points) |", "|---|---|---|---|---|---|---|---|"]
    for res in results:
        r = res["curves"]["routers"]
        diff = (f"{r['concur']['aiq'] - r['kNN']['aiq']:+.4f}"
                + (_ci(r["concur"]["aiq_minus_knn_ci"], 4) if r["concur"].get("aiq_minus_knn_ci") else ""))
        summary.append(f"| {res['name']} | {_f(r['concur']['aiq'], 4)} | {_f(r['kNN']['aiq'], 4)} | {diff} | "
                       f"{_f(r['shared model']['aiq'], 4)} | {_f(r['singles hull']['aiq'], 4)} | "
                       f"{_f(r['oracle-probability ceiling']['aiq'], 4)} | {_pts(r['concur']['gain_at_ref_cost'])} |")
    L += ["## Summary", ""] + summary + [""]
    for res in results:
        png = f"results_{res['name']}.png"
        plot_dataset(docs / png, res)
        L += _dataset_section(res, png)
    L += ["## Levers tried", ""]
    L.append("| data set | router | AIQ | acc@best cost (gain, points) | vs concur AIQ |")
    L.append("|---|---|---|---|---|")
    for res in results:
        r = res["curves"]["routers"]
        e = r.get("concur+kNN ensemble")
        if e:
            L.append(f"| {res['name']} | concur+kNN ensemble | {_f(e['aiq'], 4)}{_ci(e['aiq_ci'], 4)} | "
                     f"{_f(e['acc_at_ref_cost'])} ({_pts(e['gain_at_ref_cost'])}) | {_f(e['aiq'] - r['concur']['aiq'], 4)} |")
    for lever in meta.get("levers", []):
        L.append(f"| {lever['dataset']} | {lever['name']} | {_f(lever['aiq'], 4)} | {_f(lever['acc_at_ref_cost'])} "
                 f"({_pts(lever['gain_at_ref_cost'])}) | {_f(lever['delta_vs_concur'], 4)} |")
    L.append("")
    L += _predictor_levers(meta.get("predictor_levers"))
    L.append("Already on in every concur run (predictor.py defaults, measured in the predictor work): checkpoint "
             "selection by validation log-loss, cost trained in log space, temperature scaling on validation.")
    L.append("")
    L += METHOD_NOTES.splitlines() + [""]
    md = docs / "RESULTS.md"
    write_text_atomic(md, "\n".join(L) + "\n")
    return md
