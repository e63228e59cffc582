"""docs/RESULTS.md and its plots, rendered from the results dicts (no number typed by hand)."""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from .config import SCHEMA
from .io import write_text_atomic
from .plotting import finish_accuracy_cost

REFERENCE_ROWS = ("singles hull", "oracle-probability ceiling")
MAIN_ROUTERS = ("concur", "knn", "shared")  # drawn with their operating points in the plots
PALETTE = ("tab:blue", "tab:green", "tab:purple", "tab:cyan", "tab:olive", "tab:orange", "tab:brown", "tab:pink")


def router_names(res: dict[str, Any]) -> list[str]:
    """The routers of a results dict, in the order they ran (the registry's)."""
    return [n for n in res["curves"]["routers"] if n not in REFERENCE_ROWS]


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


def _on_log_axis(cost: list[float], acc: list[float], points: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """A hull's vertices filled in along cost: drawn on a log cost axis, a straight segment between two
    vertices would bulge above the linear interpolation that AIQ integrates."""
    cost, acc = np.asarray(cost, dtype=float), np.asarray(acc, dtype=float)
    if len(cost) < 2 or cost[0] <= 0:
        return cost, acc
    xs = np.union1d(np.geomspace(cost[0], cost[-1], points), cost)
    return xs, np.interp(xs, cost, acc)


def plot_dataset(path: Path, res: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cv = res["curves"]
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    try:
        styles = {"singles hull": ("tab:gray", "--"), "oracle-probability ceiling": ("tab:red", "--")}
        styles.update({n: (PALETTE[i % len(PALETTE)], "-" if n in MAIN_ROUTERS else ":")
                       for i, n in enumerate(router_names(res))})
        for name, (color, ls) in styles.items():
            c = cv["curves"].get(name)
            if not c:
                continue
            ax.plot(*_on_log_axis(c["hull_cost"], c["hull_acc"]), ls, color=color, label=name,
                    lw=1.6 if name in MAIN_ROUTERS else 1.1)
            if name in MAIN_ROUTERS:
                pts = c["points"]
                ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=4, color=color, alpha=0.35)
        ax.scatter([s["cost"] for s in cv["singles"]], [s["accuracy"] for s in cv["singles"]], marker="s", s=18,
                   color="black", label="single strategies", zorder=5)
        ax.set_xscale("log")
        finish_accuracy_cost(fig, ax, path, f"mean realised cost per task ({res['cost_unit']}, log scale)",
                             res["name"] + ": non-decreasing convex hulls (test)", dpi=90, title_size=10, legend_size=7)
    finally:
        plt.close(fig)


CASCADE_STYLES = {"singles hull": ("tab:gray", "--"), "cascade routing": ("tab:red", "-"),
                  "routed cascade": ("tab:orange", "-."), "cascade": ("tab:purple", ":"),
                  "agreement cascade + singles": ("tab:brown", ":")}


def plot_cascades(path: Path, name: str, cs: dict[str, Any], cost_unit: str) -> None:
    """The cascades' test hulls beside the best question-only router's and the prior's (what their AIQs integrate)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hulls = cs["hulls"]
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    try:
        shown = {cs["best_question_only"]: ("black", "-", f"{cs['best_question_only']} (best question-only)")}
        if cs["prior"] != cs["best_question_only"]:
            shown[cs["prior"]] = ("tab:blue", "-", f"{cs['prior']} (prior)")
        shown.update({k: (color, ls, {"cascade": "learned chain cascade"}.get(k, k))
                      for k, (color, ls) in CASCADE_STYLES.items()})
        for key, (color, ls, label) in shown.items():
            if key in hulls:
                ax.plot(*_on_log_axis(hulls[key]["hull_cost"], hulls[key]["hull_acc"]), ls, color=color, label=label,
                        lw=1.6 if key in ("cascade routing", cs["best_question_only"]) else 1.1)
        ax.scatter(cs["singles"]["cost"], cs["singles"]["accuracy"], marker="s", s=18, color="black",
                   label="single strategies", zorder=5)
        p = cs["agreement_point"]
        ax.scatter([p["cost"]], [p["accuracy"]], marker="^", s=40, color="tab:brown", label="agreement cascade",
                   zorder=6)
        ax.set_xscale("log")
        finish_accuracy_cost(fig, ax, path, f"mean realised cost per task ({cost_unit}, log scale)",
                             f"{name}: cascades vs question-only routers (test hulls)", dpi=90, title_size=10,
                             legend_size=7)
    finally:
        plt.close(fig)


# RouteLLM paper (Ong et al., arXiv 2406.18665v4), Table 2 "5-shot MMLU results": gpt-4-1106-preview (strong)
# vs Mixtral-8x7B (weak), all decontaminated MMLU questions, evaluate.py's 10 quantile bins. Quoted, not computed:
# (training data, router, CPT(50%) in %, CPT(80%) in %, APGR).
ROUTELLM_MMLU_PUBLISHED = (
    ("-", "random", 50.07, 79.93, 0.500),
    ("D_arena", "BERT", 49.43, 77.80, 0.502),
    ("D_arena", "Causal LLM", 48.88, 77.93, 0.499),
    ("D_arena", "Matrix Factorization", 45.00, 76.86, 0.524),
    ("D_arena", "SW Ranking", 55.82, 80.25, 0.473),
    ("D_arena + D_gold", "BERT", 41.30, 72.20, 0.572),
    ("D_arena + D_gold", "Causal LLM", 35.49, 70.31, 0.600),
    ("D_arena + D_gold", "Matrix Factorization", 35.46, 71.40, 0.597),
    ("D_arena + D_gold", "SW Ranking", 35.40, 71.55, 0.603),
)


def _pct(v: Any) -> str:
    return "n/a" if v is None else f"{100 * v:.2f}%"


def _weak_strong_lines(res: dict[str, Any]) -> list[str]:
    """The two-model metrics of a weak/strong pool, in RouteLLM's and RouterXBench's definitions."""
    ws = res["weak_strong"]
    bins = ws.get("routellm_bins", 10)
    n = ws.get("n_tasks", res["split_sizes"]["test"])
    L = [f"Weak/strong metrics on the {n} test tasks (weak {ws['weak']}, accuracy {_f(ws['acc_weak'])}; strong "
         f"{ws['strong']}, accuracy {_f(ws['acc_strong'])}; seed means). **RouteLLM's definitions** (Ong et al., "
         "arXiv 2406.18665, Sec. 3.2; `routellm/evals/evaluate.py`): tasks go to the strong model in descending order "
         "of the router's estimated gain in P(correct), p_strong - p_weak; APGR = the mean performance gap recovered "
         "over the share of strong calls; CPT(q) = the least share of strong calls that recovers q of the gap. "
         f"*{bins} bins*: RouteLLM's evaluation, thresholds at the {bins}-quantile edges of the score (the numbers its "
         "paper reports); *exact*: every task's score is a threshold (the limit of the binned curve); *cost order*: "
         "our variant, escalating by gain per unit of extra predicted cost (the weight sweep's order; not "
         "RouteLLM's metric). Random routing: APGR 0.5, CPT(q) = q in expectation.", "",
         f"| router | APGR ({bins} bins) | CPT(50%) ({bins} bins) | CPT(80%) ({bins} bins) | APGR (exact) | "
         "CPT(50%) (exact) | CPT(80%) (exact) | APGR (cost order) | CPT(50%) (cost order) |",
         "|---|---|---|---|---|---|---|---|---|"]
    for name, m in ws["routers"].items():
        L.append(f"| {name} | {_f(m.get('apgr_qbins'))} | {_pct(m.get('cpt50_qbins'))} | {_pct(m.get('cpt80_qbins'))} | "
                 f"{_f(m.get('apgr'))} | {_pct(m.get('cpt50'))} | {_pct(m.get('cpt80'))} | "
                 f"{_f(m.get('apgr_cost_order'))} | {_pct(m.get('cpt50_cost_order'))} |")
    if res["name"] == "routellm_mmlu":
        for data, router, c50, c80, ap in ROUTELLM_MMLU_PUBLISHED:
            label = router if data == "-" else f"{router}, trained on {data}"
            L.append(f"| *RouteLLM paper: {label}* | *{ap:.3f}* | *{c50:.2f}%* | *{c80:.2f}%* "
                     "| | | | | |")
        info = res.get("import_info", {})
        L += ["", "The italic rows are quoted from RouteLLM's paper (arXiv 2406.18665v4, Table 2, 5-shot MMLU). "
              "Same as ours: the model pair (gpt-4-1106-preview vs Mixtral-8x7B-Instruct), the per-question "
              "outcomes (the data here are RouteLLM's released 5-shot responses) and the metric computation (the "
              f"{bins}-bin columns). Different: (1) they evaluate on all MMLU questions less those listed in its "
              f"contaminated_prompts.jsonl (14,037 of 14,042), we on our {n}-task test split (prompts dropped as "
              f"contaminated at import: {info.get('dropped_contaminated', 0)}); (2) their routers learn from Chatbot Arena preferences, D_gold adding about 1,500 golden-label "
              "comparisons from MMLU's validation split, ours from these two models' outcomes on the "
              f"{res['split_sizes']['train']} training tasks of the same benchmark, so the D_arena + D_gold rows are "
              "the closest setting and ours has far more in-distribution labels; (3) their score is P(strong model "
              "wins), ours the predicted gain in P(correct)."]
    rb, lb = ws.get("recovery_band", [0.7, 0.9]), ws.get("lpm_band", [0.0, 0.1])
    L += ["", "**RouterXBench's definitions** (`src/metric.py`, `AdaptiveMetrics` and `ReliableMetrics`, its default "
          "bands): the router's score for 'the weak model is right' (here P(weak correct)); on the 101-point "
          "call-rate grid the tasks with the lowest score go to the strong model first. "
          f"LPM = mean accuracy over call rates in [{lb[0]:g}, {lb[1]:g}]; HCR = 1 - the mean call rate of the grid "
          f"points whose accuracy recovers {100 * rb[0]:g}-{100 * rb[1]:g}% of the weak-to-strong gap (0 if none); "
          f"MPM = mean accuracy of the points above the accuracy at call rate {lb[1]:g} and below that band (0 if "
          "none); AUROC of the score for 'the weak model is right'. The oracle ordering's score ranks "
          "only-strong-right tasks lowest and only-weak-right tasks highest.", "",
          "| router | AUROC (weak right) | LPM | MPM | HCR |", "|---|---|---|---|---|"]
    for name, m in ws["routers"].items():
        L.append(f"| {name} | {_f(m.get('auroc_weak_right'))} | {_f(m.get('lpm'))} | {_f(m.get('mpm'))} | "
                 f"{_f(m.get('hcr'))} |")
    return L + [""]


def _dataset_section(res: dict[str, Any], png: str, cascade_png: str | None = None) -> list[str]:
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
    one = [n for n, info in res.get("routers", {}).items() if len(info.get("seeds", [])) == 1]
    L.append("Routers (weighted sweep over the same routing code; seed means over "
             f"{len(res['seeds'])} training seeds where a router is trained"
             + (f", one seed for {', '.join(one)}" if one else "") + "; 95% bootstrap intervals over "
             f"{res['n_boot']} resamples of the test tasks in brackets). `acc@best cost` and `cost@best acc` are "
             "read off the hull at the best single strategy's test cost/accuracy; the operating point is the "
             "weight chosen on validation (best validation accuracy within the best single's validation cost).")
    L.append("")
    L.append("| router | AIQ | - kNN (paired) | gap recovered | acc@best cost (gain, points) | cost@best acc | "
             "val-chosen point: accuracy (gain, points) | its cost | per-seed AIQ |")
    L.append("|---|---|---|---|---|---|---|---|---|")
    for name in REFERENCE_ROWS + tuple(router_names(res)):
        r = cv["routers"].get(name)
        if r is None:
            continue
        gap = f"{_f(r.get('gap_recovered'))}{_ci(r.get('gap_recovered_ci'))}" if "gap_recovered" in r else ""
        vs_knn = f"{r['aiq_minus_knn']:+.4f}{_ci(r.get('aiq_minus_knn_ci'), 4)}" if "aiq_minus_knn" in r else ""
        op = r.get("operating_point")
        ops = (f"{_f(op['accuracy'])}{_ci(op['accuracy_ci'])} ({_pts(op['gain_vs_best_single'])}{_ci_pts(op['gain_ci'])})"
               if op else "")
        opc = f"{_f(op['cost'], 2)}{_ci(op['cost_ci'], 2)}" if op else ""
        seeds = ", ".join(_f(p["aiq"], 4) for p in r.get("per_seed", [])) if r.get("n_seeds", 1) > 1 else ""
        L.append(f"| {name} | {_f(r['aiq'], 4)}{_ci(r['aiq_ci'], 4)} | {vs_knn} | {gap} | {_f(r['acc_at_ref_cost'])} "
                 f"({_pts(r['gain_at_ref_cost'])}{_ci_pts(r['gain_at_ref_cost_ci'])}) | "
                 f"{'not reached' if r['cost_at_ref_acc'] is None else _f(r['cost_at_ref_acc'], 2)}"
                 f"{_ci(r['cost_at_ref_acc_ci'], 2)} | {ops} | {opc} | {seeds} |")
    L.append("")
    c, k = cv["routers"].get("concur"), cv["routers"].get("knn")
    if c and k:
        L.append(f"Target AIQ(concur) >= AIQ(kNN): **{'met' if c['aiq'] >= k['aiq'] else 'NOT met'}** "
                 f"(concur {_f(c['aiq'], 4)} vs kNN {_f(k['aiq'], 4)}, difference {_f(c['aiq'] - k['aiq'], 4)}"
                 + (f", paired 95% bootstrap interval {_ci(c['aiq_minus_knn_ci'], 4).strip()}"
                    if c.get('aiq_minus_knn_ci') else "") + ").")
    if c and res["name"] == "mmlu_pro":
        g = c["gain_at_ref_cost"]
        L.append(f"Target accuracy at the best single's cost >= best single + 1 point: "
                 f"**{'met' if g >= 0.01 else 'NOT met'}** (hull: {_pts(g)} points{_ci_pts(c['gain_at_ref_cost_ci'])}; "
                 f"validation-chosen operating point: {_pts(c['operating_point']['gain_vs_best_single'])} points).")
    L.append("")
    if "weak_strong" in res:
        L += _weak_strong_lines(res)
    if res.get("cost_bias"):
        L += _cost_bias_lines(res["cost_bias"])
    L += _budget_lines(res)
    if res.get("matched_spend"):
        L += _matched_spend_lines(res["matched_spend"], unit)
    if "continual" in res:
        L += _continual_lines(res["continual"])
    if res.get("cascades"):
        L += _cascade_lines(res["cascades"], cascade_png)
    t = res["timings"]
    L.append("Step times (s): " + ", ".join(f"{k} {v:.1f}" for k, v in t.items()) +
             f". Embeddings: {res['embedding_status']}.")
    L.append("")
    return L


def _cost_bias_lines(cb: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Per strategy, the predicted cost's total relative bias before and after the mean (smearing) correction."""
    names = list(cb)
    L = ["Cost predictions (first seed): total relative bias sum(predicted) / sum(realised) - 1 per strategy, "
         "before the mean correction (the log-space regressor's back-transformed median) -> after it (smearing "
         "factor fitted on validation). Target: within +-3% on test after the correction.", "",
         "| strategy | " + " | ".join(f"{n} val | {n} test" for n in names) + " |",
         "|---|" + "---|---|" * len(names)]
    by = {n: {(r["strategy"], r["split"]): r for r in rows} for n, rows in cb.items()}
    strategies = list(dict.fromkeys(r["strategy"] for rows in cb.values() for r in rows))
    fmt = lambda r: "" if r is None else f"{_pts(r['cost_bias_uncorrected'])}% -> {_pts(r['cost_bias'])}%"  # noqa: E731
    for s in strategies:
        L.append(f"| {s} | " + " | ".join(f"{fmt(by[n].get((s, 'val')))} | {fmt(by[n].get((s, 'test')))}"
                                         for n in names) + " |")
    for n in names:
        test = [r for r in cb[n] if r["split"] == "test" and r["cost_bias"] is not None]
        if test:
            worst = max(abs(r["cost_bias"]) for r in test)
            L.append("")
            L.append(f"{n}: largest |test bias| after the correction {100 * worst:.1f}% "
                     f"(target <= 3%: **{'met' if worst <= 0.03 else 'NOT met'}**); before it "
                     f"{100 * max((abs(r['cost_bias_uncorrected'] or 0.0) for r in test)):.1f}%.")
    return L + [""]


def _budget_lines(res: dict[str, Any]) -> list[str]:
    bud = res["budgets"]
    L = [f"Budgeted routing ({bud.get('solver', 'fast')} solver; every training seed of each router: accuracy and "
         "spend are seed means, the accuracy range over seeds in brackets; budgets per task spaced geometrically "
         "between the cheapest and the dearest single strategy's mean training cost). *guard none*: the constraint "
         "holds on predicted cost; *guard realised* (`--risk none`): the solver's budget is "
         "calibrated on the validation predictions so that the realised spend estimated there meets the budget "
         "(concur/guard.py), in local mode only ever lowered; *realised, risk*: with `--risk 0.1`, the default of "
         "routing_constrained.py and of route(budget=...) (a margin so that "
         "realised spend <= budget with probability about 0.9). `spend / budget` is the seed mean of the realised "
         "test spend over the budget, with the worst seed; `vs unguarded` is the guarded accuracy minus the "
         "unguarded solve's at the same realised spend (points, read off its budget sweep). Every router and seed "
         "is scored on the same test tasks, so they over- or underspend at the same budgets together: how often "
         "the guard overspends is measured over random re-splits of validation and test "
         "(`benchmarks/bench_budget_guard.py --resplits`, README).", "",
         "| router | mode | guard | budget | accuracy | realised cost | predicted cost | spend / budget (worst seed) | "
         "seeds over | vs unguarded | no-fit tasks |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in bud["rows"]:
        guard = r.get("guard", "none")
        if "error" in r:
            L.append(f"| {r['router']} | {r['mode']} | {guard} | {_f(r['budget'], 2)} | infeasible | | | | | | |")
            continue
        rng = r.get("accuracy_range")
        spread = f" [{rng[0]:.3f}, {rng[1]:.3f}]" if rng and r.get("n_seeds", 1) > 1 else ""
        ratio = f"{_f(r['spend_ratio'], 3)} ({_f(r['max_spend_ratio'], 3)})"
        vs = _pts(r.get("acc_vs_unguarded")) if guard != "none" else ""
        nofit = _f(r.get("n_no_fit"), 1) if r["mode"] == "local" else ""
        L.append(f"| {r['router']} | {r['mode']} | {guard} | {_f(r['budget'], 2)} | {_f(r['accuracy'])}{spread} | "
                 f"{_f(r['realised_cost'], 2)} | {_f(r['predicted_cost'], 2)} | {ratio} | "
                 f"{r['seeds_over_budget']} of {r['n_seeds']} | {vs} | {nofit} |")
    for variant in ("none", "realised", "realised, risk"):
        L += _guard_verdict([r for r in bud["rows"] if r.get("guard") == variant and "error" not in r
                             and r["mode"] == "global"], variant)
    return L + [""]


def _guard_verdict(guarded: list[dict[str, Any]], variant: str) -> list[str]:
    L = []
    if guarded:
        worst = max(r["max_spend_ratio"] for r in guarded)
        mean = sum(r["spend_ratio"] for r in guarded) / len(guarded)
        diffs = [r["acc_vs_unguarded"] for r in guarded if r.get("acc_vs_unguarded") is not None]
        L += ["", f"Global mode, guard '{variant}' ({len(guarded)} rows): mean realised spend / budget {mean:.3f} (target <= 1.00: "
              f"**{'met' if mean <= 1.0 + 1e-9 else 'NOT met'}**), worst single run {worst:.3f} (target <= 1.03: "
              f"**{'met' if worst <= 1.03 else 'NOT met'}**); accuracy vs the unguarded solve at equal realised spend: "
              f"mean {_pts(sum(diffs) / len(diffs) if diffs else None)} points, lowest {_pts(min(diffs) if diffs else None)}."]
    return L


def _matched_spend_lines(ms: dict[str, Any], unit: str) -> list[str]:
    L = [f"Global vs local at equal realised spend ({ms['router']}, {ms['n_seeds']} seed(s); the paper's Table 4 "
         "claim): for each spend level, each mode's internal budget is chosen on validation so that its realised "
         "validation spend equals the level; test accuracy (95% bootstrap interval) and test spend; the "
         "difference is paired over the same test resamples.", "",
         f"| spend level ({unit}) | global: accuracy | its spend | local: accuracy | its spend | "
         "global - local (points) |", "|---|---|---|---|---|---|"]
    for r in ms["rows"]:
        g, lo = r["global"], r["local"]
        L.append(f"| {_f(r['level'], 2)} | {_f(g['accuracy'])}{_ci(g['accuracy_ci'])} | {_f(g['realised_cost'], 2)} | "
                 f"{_f(lo['accuracy'])}{_ci(lo['accuracy_ci'])} | {_f(lo['realised_cost'], 2)} | "
                 f"{_pts(r['global_minus_local'])}{_ci_pts(r['global_minus_local_ci'])} |")
    wins = sum(r["global_minus_local"] >= 0 for r in ms["rows"])
    L += ["", f"Global >= local at {wins} of {len(ms['rows'])} levels."]
    return L + [""]


WARM_START_TEXT = {"cost": " (CONCUR's new cost regressors start from the best-fitting Setting-1 regressor, "
                            "predictor.warm_start: cost)",
                   "both": " (CONCUR's new networks start from the best-fitting Setting-1 networks, "
                           "predictor.warm_start: both)"}


def _continual_lines(ct: dict[str, Any]) -> list[str]:
    L = ["### Continual routing (the paper's Table 5 protocol)", "",
         f"Setting 1: the dearer strategies {', '.join(ct['large'])}. Setting 2 adds {', '.join(ct['small'])}. A "
         f"modular router starts from its Setting-1 parts and trains only the new strategies"
         f"{WARM_START_TEXT.get(ct.get('concur_warm_start'), '')}; the others retrain from scratch on the whole "
         "pool. Every update is timed in one process, one after another, on one CPU thread (concur/continual.py).", "",
         "| router | modular | update wall-clock (s) | vs concur | parts trained / skipped | Setting-1 files "
         "byte-identical | Setting-2 AIQ | val-chosen point: accuracy | its cost |",
         "|---|---|---|---|---|---|---|---|---|"]
    for name, r in ct["routers"].items():
        s2 = ct.get("setting2", {}).get(name)
        same = ("n/a" if r["byte_identical"] is None else
                f"{'yes' if r['byte_identical'] else 'NO'} ({r['n_files_checked']} files)")
        aiq = f"{_f(s2['aiq'], 4)}{_ci(s2['aiq_ci'], 4)}" if s2 else ""
        op = s2["operating_point"] if s2 else None
        L.append(f"| {name} | {'yes' if r['modular'] else 'no'} | {_f(r['update_seconds'], 1)} | "
                 f"{_f(r.get('time_vs_concur'), 2)}x | {len(r['trained'])} / {len(r['skipped'])} | {same} | {aiq} | "
                 f"{_f(op['accuracy']) if op else ''} | {_f(op['cost'], 2) if op else ''} |")
    return L + [""]


METHOD_NOTES = """\
## Definitions

- **Routers** (concur/routers/, one module each, listed below with their one-line summaries). Every router's
  predictions are written as `pred_<strategy>.csv` / `pred_val_<strategy>.csv` and routed by the same code
  (concur/routing.py): per task argmax of W*p - (1-W)*c over a dense grid of weights W (1-W from 1 down to 1e-9
  geometrically, plus 0 and 1). Predicted cost is each router's estimate of the MEAN cost (log-space regressors
  are smearing-corrected on validation).
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
- **Weak/strong metrics** (two-strategy pools; concur/two_model_metrics.py). *APGR, CPT* as RouteLLM defines
  them (Ong et al., arXiv 2406.18665, Sec. 3.2; `routellm/evals/evaluate.py`, `benchmarks.py`): tasks go to the
  strong model when the router's score clears a threshold; our score is the predicted gain p_strong - p_weak
  (RouteLLM's routers score P(strong wins)). PGR(x) = (acc(x) - acc_weak) / (acc_strong - acc_weak) at strong-call
  share x; APGR = its trapezoid mean over the curve's points; CPT(q) = the least share at which the linearly
  interpolated curve reaches PGR q. RouteLLM places the thresholds at the 10-quantile edges of the score (`score
  >= edge`, the last edge `>`: 11 points); the exact curve uses every distinct score (its limit as bins grow).
  *Cost order*: our variant ordering by (p_strong - p_weak) / (c_strong - c_weak), the order in which the weight
  sweep escalates tasks. *LPM, MPM, HCR, AUROC* as RouterXBench defines them (`src/metric.py`, `AdaptiveMetrics`,
  `ReliableMetrics`, default bands): ascending 'weak model is right' score (here P(weak correct)), call rates
  i/100 with floor(rate * n) tasks escalated; LPM = mean accuracy at call rates in [0, 0.1]; HCR = 1 - mean call
  rate of the points with accuracy in [w + 0.7 (s - w), w + 0.9 (s - w)] (0 if none); MPM = mean accuracy of the
  points strictly between the accuracy at call rate 0.1 and w + 0.7 (s - w) (0 if none); AUROC of the score for
  'weak model is right' (0.5 if one class).
"""


def _answer_model_text(kind: str, combination: str = "stack") -> str:
    if kind == "validation only":
        return "the prior and the answers, fitted on validation"
    subj = "with" if "subject" in kind else "without"
    joined = ("added to the prior's logit as a shift fitted on validation (the prior's calibration kept)"
              if combination == "offset" else "combined with the prior on validation (both logits weighed freely)")
    return (f"answer models fitted on the train split's answers ({subj} subject interactions) {joined}; both "
            "choices made on validation")


def _error_model_text(cs: dict[str, Any]) -> str:
    if not cs["cascade_routing_sigma_scale"]:
        return ""
    return " (errors correlated across strategies)" if cs.get("cascade_routing_correlated") else " (independent errors)"


def _cascade_lines(cs: dict[str, Any], png: str | None = None) -> list[str]:
    """Routing on the models' answers (concur/cascade_results.py): AIQ of the cascades beside the question-only
    routers, their paired differences to the best of those, and the AUROC diagnostics."""
    best = cs["best_question_only"]
    estimates = _answer_model_text(cs.get("cascade_routing_answer_model", "validation only"),
                                   cs.get("cascade_routing_combination", "stack"))
    L = [f"**Routing on the models' answers** (`concur/cascade_routing.py`, `concur/cascade.py`; seed-0 predictions; "
         f"prior: **{cs['prior']}**, the question-only router of highest validation AIQ on gold labels; stop and "
         f"quality models fitted on validation; {cs['n_test']} test tasks, paired bootstrap). A cascade pays for every "
         f"strategy it runs. Cascade routing (Dekoninck et al.) chooses supermodels of up to three of all "
         f"{len(cs['cascade_routing_pool'])} strategies, its quality estimates from "
         f"{estimates}, with the uncertainty "
         f"factor {cs['cascade_routing_sigma_scale']:g}{_error_model_text(cs)} chosen on validation, and ran "
         f"{cs['cascade_routing_steps']:.2f} strategies per task on average over its cost-weight sweep; the "
         f"learned chain cascade runs {' -> '.join(cs['chain'])}; the routed cascade escalates the prior's pick to "
         f"{cs['routed_strong']}.", "",
         "| method | AIQ | - best question-only router (paired) |", "|---|---|---|"]
    diffs = {"cascade routing": "cascade_routing_minus_best", "routed cascade": "routed_minus_best",
             "cascade": "cascade_minus_best", "agreement cascade + singles": "agreement_minus_best"}
    for name, v in sorted(cs["aiq"].items(), key=lambda kv: -kv[1]):
        d = cs.get(diffs.get(name, ""), None)
        shown = {"cascade": "learned chain cascade"}.get(name, name)
        cell = f"{d['diff']:+.4f}{_ci(d['ci'], 4)}" if d else ("(best)" if name == best else "")
        L.append(f"| {shown} | {_f(v, 4)} | {cell} |")
    L.append("")
    met = cs["cascade_routing_minus_best"]
    L.append(f"Cascade routing minus the best question-only router ({best}): {met['diff']:+.4f}{_ci(met['ci'], 4)}. "
             + _minus_prior_text(cs) + "Test AUROC of P(correct) from the prior alone -> the prior plus the two "
             "cheapest strategies' answers: "
             + "; ".join(f"{k}: {v['prior']:.3f} -> {v['prior+answers']:.3f}" for k, v in cs["auroc"].items()) + ".")
    L.append("")
    if png:
        L += [f"![cascades' accuracy-cost hulls]({png})", ""]
    return L


def _minus_prior_text(cs: dict[str, Any]) -> str:
    """What the answers add to the same question-only predictions: the cascades minus their own prior (the router
    chosen on validation), paired."""
    d, rd = cs["cascade_routing_minus_prior"], cs["routed_minus_prior"]
    text = (f"Minus its own prior ({cs['prior']}, the question-only router chosen on validation: what the answers add "
            f"to the same predictions): cascade routing {d['diff']:+.4f}{_ci(d['ci'], 4)}, routed cascade "
            f"{rd['diff']:+.4f}{_ci(rd['ci'], 4)}. ")
    val_aiq, rho = cs["validation_aiq"], cs["val_test_rank_correlation"]
    by_test = sorted(val_aiq, key=lambda n: -cs["aiq"][n])
    by_val = sorted(val_aiq, key=lambda n: -val_aiq[n])
    agreement = "n/a (too few routers, or all tied)" if rho is None else f"{rho:+.2f}"
    return text + (f"How well validation, where the prior and every other choice is made, ranks the question-only routers "
                   f"as test does: Spearman correlation of their validation and test AIQ over {len(val_aiq)} routers "
                   f"{agreement} (1: the same order); the prior, first on validation ({val_aiq[cs['prior']]:.4f}), ranks "
                   f"{by_test.index(cs['prior']) + 1} on test; the three best on test rank "
                   + ", ".join(f"{by_val.index(n) + 1} ({n}, {val_aiq[n]:.4f})" for n in by_test[:3])
                   + " on validation. ")


def _ood_cascade_lines(results: list[dict[str, Any]]) -> list[str]:
    """Cascade routing against the best question-only router on each out-of-distribution re-split."""
    if not results:
        return []
    L = ["## Routing on the models' answers out of distribution", "",
         "The out-of-distribution re-splits of the paper-tables section below (test tasks from a source that "
         "training and validation never saw; one training seed), with the cascades of each data set's section: "
         "the prior is the question-only router of highest validation AIQ, the answer models are fitted on the "
         "train split's answers and every choice is made on validation, so none of it has seen the test source. "
         "AIQ differences to the best question-only router on test, paired 95% bootstrap intervals.", "",
         "| data set | prior | best question-only router | its AIQ | cascade routing | - best | routed cascade - best "
         "| cascade routing - prior | strategies run per task | test tasks with an unseen answer format |",
         "|---|---|---|---|---|---|---|---|---|---|"]
    for res in results:
        cs = res["cascades"]
        best, d, rd = cs["best_question_only"], cs["cascade_routing_minus_best"], cs["routed_minus_best"]
        pd = cs["cascade_routing_minus_prior"]
        L.append(f"| {res['name']} | {cs['prior']} | {best} | {_f(cs['aiq'][best], 4)} | "
                 f"{_f(cs['aiq']['cascade routing'], 4)} | {d['diff']:+.4f}{_ci(d['ci'], 4)} | "
                 f"{rd['diff']:+.4f}{_ci(rd['ci'], 4)} | {pd['diff']:+.4f}{_ci(pd['ci'], 4)} | "
                 f"{cs['cascade_routing_steps']:.2f} | {_unseen_format_cell(cs)} |")
    return L + ["A task's answer is of an unseen format when a strategy gave a parsed answer outside the closed set "
                "of answers it gave on train and validation (option letters), where those splits had no open-ended "
                "answers (code, free text); once such an answer is in, cascade routing uses the prior's estimates "
                "alone for that task (the answer signals learned on other formats do not transfer).", ""]


def _unseen_format_cell(cs: dict[str, Any]) -> str:
    n = cs.get("cascade_routing_unseen_format")
    return "n/a" if n is None else f"{n} of {cs['n_test']}"


def _predictor_levers(lv: dict[str, Any] | None) -> list[str]:
    """The table written by benchmarks/bench_predictor_levers.py (CONCUR variants on MMLU-Pro, one seed)."""
    if not lv:
        return ["Predictor-setting levers: not measured in this work folder (run "
                "`python benchmarks/bench_predictor_levers.py` before `make results`; it takes hours). The last "
                "measured table (schedule, task features, kNN blending, all-mpnet-base-v2, calibration, cost target, "
                "checkpoint selection, on MMLU-Pro) is in this file's version at commit f3675e3.", ""]
    L = [f"CONCUR training and embedding variants on MMLU-Pro (`benchmarks/bench_predictor_levers.py`, run "
         f"{lv['date']}; one seed unless a seed is given; **choose on the val columns**, test for information). "
         "val/test AIQ are of the weighted sweep on that split's predictions; gain = hull accuracy at the best "
         "single's cost minus its accuracy (points). `[ref]` rows are this work folder's routers; "
         "`+kNN` averages P(correct) and cost with the kNN router; `true cost (bound)` routes the variant's "
         "P(correct) with the realised costs (what a perfect cost model would add).", "",
         "| variant | embeddings | settings | val logloss | val AUROC | val cost MAE | val AIQ | val gain | "
         "test AIQ | test gain |", "|---|---|---|---|---|---|---|---|---|---|"]
    adopted = lv.get("adopted")
    for row in lv["rows"]:
        name = row["variant"]
        base = name.split(" ")[0]
        group = name.endswith(" seeds)")  # '<base> (mean of k seeds)'
        if " " in name and base not in (adopted, *lv.get("show_posthoc", [])) and not name.startswith("[ref]") \
                and not group:
            continue  # the +kNN / bound rows are shown for the adopted variant only
        v = (lv["variants"].get(f"{base}_s0") if group else None) or lv["variants"].get(base, {})
        settings = ", ".join(f"{k} {x}" for k, x in v.get("settings", {}).items()) or "the config defaults of that run"
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


def _sci(x: float) -> str:
    """1e-3, 3e-4: a learning rate as the README writes it."""
    mantissa, exponent = f"{x:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def render(results: list[dict[str, Any]], meta: dict[str, Any], docs: Path) -> Path:
    """Write docs/RESULTS.md and docs/results_<name>.png (atomically); returns the markdown path."""
    from .paper_tables import render as paper_tables

    docs.mkdir(parents=True, exist_ok=True)
    everything, results = results, [r for r in results if not r.get("ood")]
    defaults = {key: spec[1] for key, spec in SCHEMA["predictor"].items()}  # what "the config defaults" are
    L = ["# Results on real outcome data", "",
         f"Generated by `make results` (`python results.py`); do not edit by hand. Commit: `{meta['commit']}`. "
         f"Run date: {meta['date']}. Total runtime of this run: {meta['runtime_s']:.0f} s "
         f"({meta['runtime_s'] / 60:.1f} min) on {meta['machine']}; {meta['cached_note']}", "",
         f"Seeds: split seed 0 (prepare_data.py), predictor training seeds {meta['seeds']}, bootstrap seed "
         f"{meta['boot_seed']}. Embedding model: {meta['embedding_model']}, dtype {meta['embedding']['dtype']}, "
         f"max_seq_length {meta['embedding']['max_seq_length'] or 'the model limit (256)'} tokens. "
         f"CONCUR predictor settings: the config defaults (batch {defaults['batch_size']}, lr {_sci(defaults['lr'])}, validation "
         f"every {'epoch' if defaults['eval_every'] == 1 else str(defaults['eval_every']) + ' epochs'}, chosen on "
         f"MMLU-Pro validation with `benchmarks/bench_predictor_levers.py`; the cost regressors at cost_lr "
         f"{_sci(defaults['cost_lr'])} and early-stopping patience {defaults['patience']}, chosen "
         f"with `benchmarks/bench_cost_lr.py`; `predictor.preset: reference` restores the "
         f"paper's){'; overrides: ' + ', '.join(f'{k} {v}' for k, v in meta['predictor'].items()) if meta.get('predictor') else ''}. "
         f"Other routers: their defaults (concur/routers/), except "
         f"{'; '.join(f'{k}: ' + ', '.join(f'{a} {b}' for a, b in v.items()) for k, v in meta.get('router_settings', {}).items()) or 'none'}"
         f"{' (CPU time; see concur/experiments.py)' if meta.get('router_settings') else ''}"
         f"{'; one training seed for ' + ', '.join(meta['single_seed']) if meta.get('single_seed') else ''}. "
         f"Shared data: `{meta['data_root']}`.", ""]
    names = list(dict.fromkeys(n for res in results for n in router_names(res)))
    head = "| router | " + " | ".join(res["name"] for res in results) + " |"
    rule = "|---|" + "---|" * len(results)
    summary = ["AIQ of every router (95% bootstrap interval over test tasks; seed means), then its paired difference "
               "to kNN on the same resamples.", "", head, rule]
    for name in REFERENCE_ROWS + tuple(names):
        cells = []
        for res in results:
            r = res["curves"]["routers"].get(name)
            cells.append(f"{_f(r['aiq'], 4)}{_ci(r['aiq_ci'], 4)}" if r else "")
        summary.append(f"| {name} | " + " | ".join(cells) + " |")
    summary += ["", head.replace("| router |", "| router - kNN |"), rule]
    for name in names:
        if name == "knn":
            continue
        cells = []
        for res in results:
            r = res["curves"]["routers"].get(name)
            cells.append(f"{r['aiq_minus_knn']:+.4f}{_ci(r.get('aiq_minus_knn_ci'), 4)}"
                         if r and "aiq_minus_knn" in r else "")
        summary.append(f"| {name} | " + " | ".join(cells) + " |")
    L += ["## Summary", ""] + summary + [""]
    for res in results:
        png = f"results_{res['name']}.png"
        plot_dataset(docs / png, res)
        cascade_png = None
        if res.get("cascades", {}).get("hulls"):  # results.json files from before 2026-12-07 have no hulls
            cascade_png = f"cascades_{res['name']}.png"
            plot_cascades(docs / cascade_png, res["name"], res["cascades"], res["cost_unit"])
        L += _dataset_section(res, png, cascade_png)
    L += _ood_cascade_lines([r for r in everything if r.get("ood") and r.get("cascades")])
    L += paper_tables(everything)
    L += ["## Levers tried", ""]
    L.append("| data set | router | AIQ | acc@best cost (gain, points) | vs concur AIQ |")
    L.append("|---|---|---|---|---|")
    for res in results:
        r = res["curves"]["routers"]
        e = r.get("ensemble")
        if e and "concur" in r:
            L.append(f"| {res['name']} | ensemble (concur + kNN, weights on validation) | {_f(e['aiq'], 4)}{_ci(e['aiq_ci'], 4)} | "
                     f"{_f(e['acc_at_ref_cost'])} ({_pts(e['gain_at_ref_cost'])}) | {_f(e['aiq'] - r['concur']['aiq'], 4)} |")
    for lever in meta.get("levers", []):
        L.append(f"| {lever['dataset']} | {lever['name']} | {_f(lever['aiq'], 4)} | {_f(lever['acc_at_ref_cost'])} "
                 f"({_pts(lever['gain_at_ref_cost'])}) | {_f(lever['delta_vs_concur'], 4)} |")
    L.append("")
    L += _predictor_levers(meta.get("predictor_levers"))
    L.append("Already on in every concur run (predictor.py defaults, measured in the predictor work): checkpoint "
             "selection by validation log-loss, cost trained in log space with the smearing correction to its mean, "
             "temperature scaling on validation.")
    L.append("")
    L += METHOD_NOTES.splitlines() + [""]
    L += ["Routers in this report (`python predictor.py --router NAME`; modular = a strategy can be added without "
          "touching the others):", ""]
    seen: dict[str, dict[str, Any]] = {}
    for res in results:
        seen.update({n: info for n, info in res.get("routers", {}).items() if n not in seen})
    for name, info in seen.items():
        base = info.get("base", name)
        what = info.get("summary", "") if base == name else f"{base} with other settings (concur/results_routers.py VARIANTS)"
        L.append(f"- `{name}` ({'modular' if info.get('modular') else 'not modular'}): {what}; "
                 f"`concur/routers/{base.replace('-', '_')}.py`.")
    L.append("")
    md = docs / "RESULTS.md"
    write_text_atomic(md, "\n".join(L) + "\n")
    return md
