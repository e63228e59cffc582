"""Step 1: embed every task text and every strategy description.

Reuses an up-to-date embedding file (same embedding model, same texts), rebuilds a
stale one, and recomputes everything with --force.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from concur.config import load_config
from concur.data import load_strategies, load_tasks
from concur.embeddings import embed_all, meta_path
from concur.errors import cli_main
from concur.io import prepare_output_dir


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config_path", default="config.yml",
                   help="YAML config; task_path/strategy_path are read, task_emb_path/strategy_emb_path written "
                        "(default: %(default)s)")
    p.add_argument("--force", action="store_true", help="recompute even if the saved embeddings are up to date")
    p.add_argument("--model", default=None,
                   help="override config embedding.model: 'default' (all-MiniLM-L6-v2, offline) or any "
                        "sentence-transformers name or local path")
    p.add_argument("--device", default=None, help="override config embedding.device: auto, cpu, cuda, cuda:1 …")
    p.add_argument("--no_progress", action="store_true", help="hide the progress bar")
    return p.parse_args(argv)


@cli_main
def main(argv=None) -> None:
    args = parse_args(argv)
    config = load_config(args.config_path)
    if args.model:
        config.embedding["model"] = args.model
    if args.device:
        config.embedding["device"] = args.device
    tasks = load_tasks(config.task_path)
    catalog = load_strategies(config.strategy_path)
    # the embedding files' folders (often the data set's own folder) writable before the model loads;
    # only these files' temp leftovers are removed there
    for key in ("task_emb_path", "strategy_emb_path"):
        path = Path(config[key])
        names = [path.name, meta_path(path).name]
        prepare_output_dir(path.parent, f"the folder of {key}", replaces=[path.parent / n for n in names],
                           temp_names=names)
    start = time.perf_counter()
    status = embed_all(config, tasks, catalog, force=args.force, progress=not args.no_progress)
    elapsed = time.perf_counter() - start
    if status.get("task") in ("written", "rebuilt"):
        print(f"embedded {len(tasks)} tasks in {elapsed:.1f}s ({len(tasks) / max(elapsed, 1e-9):.0f} tasks/s incl. model load)")


if __name__ == "__main__":
    main()
