"""Regenerate docs/RESULTS.md and its plots from the real outcome data in ../shared/data.

For each data set (MMLU-Pro 10-model pool, RouterBench arc_challenge+mbpp+winograde, RouteLLM MMLU):
import it with prepare_data's importers, embed it, train every registered router (concur/routers/:
CONCUR, kNN, the shared model, the ensemble, subject-best and the paper's baselines RouteLLM-MF,
EmbedLLM and RTR) over 3 seeds where the seed matters, route every router with the same routing code
over a dense weight sweep, and report hull/AIQ metrics with paired bootstrap intervals, budgeted
routing with and without the realised-spend guard, global vs local at equal spend and, on MMLU-Pro
and RouterBench, the continual-routing protocol for every router. Intermediate files go to results_work/<name>/ and are
reused when current, so a rerun only redoes what changed.

examples:
  python results.py
  python results.py --datasets routellm_mmlu --n_boot 200
  CONCUR_SHARED_DATA=/path/to/shared/data python results.py
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import time
from pathlib import Path

from concur.errors import ConcurError, cli_main

REPO = Path(__file__).resolve().parent


def parse_args(argv=None) -> argparse.Namespace:
    from concur.results_data import DATASETS, OOD

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data_root", default=None,
                   help="shared data folder with mmlu_pro/, routerbench_zs/, routellm_mmlu/ "
                        "(default: $CONCUR_SHARED_DATA, else <repo>/../shared/data)")
    p.add_argument("--work_dir", default=str(REPO / "results_work"), help="intermediate files (default: %(default)s)")
    p.add_argument("--docs_dir", default=str(REPO / "docs"), help="where RESULTS.md and the PNGs go (default: %(default)s)")
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS) + list(OOD),
                   help="data sets to run (default: all); the out-of-distribution re-splits of each chosen data set "
                        f"({', '.join(OOD)}) run after it unless --no_ood")
    p.add_argument("--no_ood", action="store_true", help="skip the out-of-distribution re-splits")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="predictor training seeds (default: 0 1 2)")
    p.add_argument("--n_boot", type=int, default=1000, help="bootstrap resamples of the test tasks (default: %(default)s)")
    p.add_argument("--workers", type=int, default=2, help="processes training seeds in parallel (default: %(default)s)")
    p.add_argument("--max_seq_length", type=int, default=None,
                   help="embedding truncation in tokens for the results pipeline (default: the model's limit, "
                        "256 for all-MiniLM-L6-v2)")
    p.add_argument("--dtype", default="auto", choices=("auto", "bfloat16", "float32"),
                   help="embedding compute dtype (default: %(default)s = bfloat16 where the CPU/GPU computes it "
                        "natively, else float32)")
    p.add_argument("--routers", nargs="+", default=None, metavar="NAME",
                   help="registered routers to run (default: all, in registry order)")
    return p.parse_args(argv)


@cli_main
def main(argv=None) -> None:
    args = parse_args(argv)
    from concur.experiments import Settings, run_dataset
    from concur.results_data import DATASETS, OOD
    from concur.importers import default_data_root
    from concur.report import git_commit, render

    # every number in range before anything is read or written
    if args.n_boot < 10 or args.workers < 1:
        raise ConcurError("--n_boot must be >= 10 and --workers >= 1")
    bad_seed = [s for s in args.seeds if not 0 <= s <= 2**32 - 1]
    if bad_seed:
        raise ConcurError(f"--seeds must be integers in [0, {2**32 - 1}], got {bad_seed[0]}")
    if args.max_seq_length is not None and args.max_seq_length < 1:
        raise ConcurError(f"--max_seq_length must be >= 1 tokens, got {args.max_seq_length}")
    data_root = Path(args.data_root) if args.data_root else default_data_root()
    subdirs = {"mmlu_pro": "mmlu_pro", "routerbench": "routerbench_zs", "routellm_mmlu": "routellm_mmlu"}
    base = [d for d in args.datasets if d in DATASETS]
    names = base + [o for o, spec in OOD.items()
                    if o in args.datasets or (not args.no_ood and spec["base"] in base and o not in args.datasets)]
    orphans = [o for o in names if o in OOD and OOD[o]["base"] not in base
               and not (Path(args.work_dir) / OOD[o]["base"] / "data" / "import_record.json").is_file()]
    if orphans:
        raise ConcurError(f"--datasets: {orphans[0]} is a re-split of {OOD[orphans[0]]['base']}, which is neither "
                          "chosen nor imported in the work folder yet")
    missing = [str(data_root / subdirs[d]) for d in base if not (data_root / subdirs[d]).is_dir()]
    if missing:
        raise ConcurError(f"{missing[0]}: shared data folder not found; set CONCUR_SHARED_DATA or pass --data_root "
                          "(the results need the real outcome data)")
    from concur.io import check_output_dir

    check_output_dir(args.work_dir, "--work_dir")
    check_output_dir(args.docs_dir, "--docs_dir")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    work = Path(args.work_dir)
    # clean = nothing computed yet (levers/ holds the lever benchmark's table, an input to the report)
    fresh = not work.exists() or all(p.name == "levers" for p in work.iterdir())
    from concur.embeddings import default_cache_dir

    cache_dir = default_cache_dir()  # the pipeline's embedding settings leave embedding.cache_dir at its default
    cache_warm = cache_dir.is_dir() and any(cache_dir.rglob("*.emb"))
    from concur.routers import REGISTRY

    routers = args.routers or list(REGISTRY)
    unknown = [r for r in routers if r not in REGISTRY]
    if unknown:
        raise ConcurError(f"--routers: unknown router '{unknown[0]}' (registered: {', '.join(REGISTRY)})")
    settings = Settings(work_root=work, data_root=data_root, seeds=tuple(args.seeds), n_boot=args.n_boot,
                        workers=args.workers, embedding={"dtype": args.dtype, "max_seq_length": args.max_seq_length},
                        routers=routers)
    results = []
    for name in names:
        t = time.perf_counter()
        print(f"== {name}: {(DATASETS.get(name) or OOD[name])['title']}", flush=True)
        results.append(run_dataset(name, settings, log=lambda m: print(m, flush=True)))
        r = results[-1]["curves"]["routers"]
        print(f"== {name} done in {time.perf_counter() - t:.0f}s: AIQ " +
              ", ".join(f"{n} {r[n]['aiq']:.4f}" for n in routers if n in r), flush=True)
    from concur.embeddings import DEFAULT_MODEL_LABEL, resolve_device, resolve_dtype

    runtime = time.perf_counter() - start
    meta = {"commit": git_commit(REPO), "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
            "runtime_s": runtime, "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
            "cached_note": ("every step computed from a clean work folder" if fresh else
                            "steps whose outputs were current in the work folder were reused (see step times)")
                           + (f"; the embedding cache {cache_dir} already held entries, so texts embedded by an "
                              "earlier run were read from it (see the embedding step times)." if cache_warm else "."),
            "seeds": list(args.seeds), "boot_seed": settings.boot_seed, "embedding_model": DEFAULT_MODEL_LABEL,
            "embedding": {**settings.embedding,
                          "dtype": resolve_dtype(settings.embedding["dtype"], resolve_device("auto"))},
            "predictor": settings.predictor, "data_root": str(data_root),
            "router_settings": settings.router_settings, "single_seed": list(settings.single_seed)}
    levers = work / "levers" / "levers.json"  # written by benchmarks/bench_predictor_levers.py
    if levers.is_file():
        meta["predictor_levers"] = json.loads(levers.read_text(encoding="utf-8"))
    md = render(results, meta, Path(args.docs_dir))
    print(f"wrote {md} ({runtime:.0f}s in all)")


if __name__ == "__main__":
    main()
