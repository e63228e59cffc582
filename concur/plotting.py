"""Accuracy-cost plot of routing results (matplotlib Agg, written atomically)."""
from __future__ import annotations

from pathlib import Path

from .io import atomic_path


def plot_accuracy_cost(path: str | Path, rows: list[dict], title: str, curve_label: str, cost_unit: str = "") -> None:
    """Routing rows (kind 'routing') as a curve, single strategies and the oracle as points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    try:
        curve = sorted((r["cost"], r["accuracy"]) for r in rows if r["kind"] == "routing")
        if curve:
            ax.plot([c for c, _ in curve], [a for _, a in curve], "o-", color="tab:blue", label=curve_label, zorder=3)
        singles = [r for r in rows if r["kind"] == "single"]
        if singles:
            ax.scatter([r["cost"] for r in singles], [r["accuracy"] for r in singles], marker="s", color="tab:gray",
                       label="single strategies", zorder=2)
            for r in singles:
                ax.annotate(r["name"], (r["cost"], r["accuracy"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
        for kind, marker, color in (("oracle", "*", "tab:red"), ("random", "x", "tab:orange")):
            pts = [r for r in rows if r["kind"] == kind]
            if pts:
                ax.scatter([r["cost"] for r in pts], [r["accuracy"] for r in pts], marker=marker, s=120,
                           color=color, label=kind, zorder=4)
        finish_accuracy_cost(fig, ax, path, f"mean realised cost per task{f' ({cost_unit})' if cost_unit else ''}",
                             title)
    finally:
        plt.close(fig)


def finish_accuracy_cost(fig, ax, path: str | Path, xlabel: str, title: str, dpi: int = 120,
                         title_size: float | None = None, legend_size: float = 8) -> None:
    """Shared styling of accuracy-vs-cost figures, then an atomic PNG save."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy (test)")
    ax.set_title(title, fontsize=title_size)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=legend_size, loc="lower right")
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
