"""Benchmark prepare_data.py: the full MMLU-Pro import (default 10-model pool, ~12,000
questions) end to end, plus the other real sources, each into a temporary folder.

Target (CPU, this machine): MMLU-Pro, 10 models, full set < 2 minutes end to end
(interpreter start, reading zips, tokenising, writing, validating with the data layer).
Also prints a per-stage breakdown of the MMLU-Pro import measured in-process.

  python benchmarks/bench_import.py [--sources mmlu-pro routerbench routellm-mmlu] [--repeat 1]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from concur.importers import default_data_root, load_token_counter  # noqa: E402
from concur.importers import mmlu_pro as mp  # noqa: E402
from concur.importers.common import resolve_input  # noqa: E402

TARGET_S = {"mmlu-pro": 120.0}
SUBDIRS = {"mmlu-pro": "mmlu_pro", "routerbench": "routerbench_zs", "routellm-mmlu": "routellm_mmlu"}


def end_to_end(source: str, root: Path, out: Path) -> float:
    env = {**os.environ, "TQDM_DISABLE": "1"}
    start = time.perf_counter()
    res = subprocess.run([sys.executable, str(REPO / "prepare_data.py"), "--source", source, "--input", str(root),
                          "--out", str(out), "--force"], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if res.returncode != 0:
        sys.exit(f"{source}: prepare_data.py failed: {res.stderr.strip()}")
    print(res.stdout.strip())
    return wall


def mmlu_pro_stages(root: Path) -> None:
    folder = resolve_input(root, "mmlu_pro")
    t0 = time.perf_counter()
    frames = {m: mp.read_model_zip(folder / mp.ZIP_PATTERN.format(m)) for m in mp.DEFAULT_MODELS}
    t1 = time.perf_counter()
    count = load_token_counter()
    texts = [t for f in frames.values() for t in f["output"].tolist()]
    t2 = time.perf_counter()
    count(texts)
    t3 = time.perf_counter()
    print(f"  stages: read 10 zips {t1 - t0:.1f}s | load tokenizer {t2 - t1:.2f}s | "
          f"tokenise {len(texts)} outputs {t3 - t2:.1f}s ({len(texts) / (t3 - t2):.0f} texts/s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sources", nargs="+", default=["mmlu-pro", "routerbench", "routellm-mmlu"], choices=list(SUBDIRS))
    ap.add_argument("--input", default=None, help="data root (default: $CONCUR_SHARED_DATA or <repo>/../shared/data)")
    ap.add_argument("--repeat", type=int, default=1, help="end-to-end runs per source (the best is reported)")
    args = ap.parse_args()
    root = Path(args.input) if args.input else default_data_root()
    if not root.is_dir():
        sys.exit(f"{root}: shared data not found (set CONCUR_SHARED_DATA or pass --input)")
    print(f"cpu cores: {os.cpu_count()}")
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        for source in args.sources:
            if not (root / SUBDIRS[source]).is_dir():
                print(f"{source}: skipped ({root / SUBDIRS[source]} absent)")
                continue
            times = [end_to_end(source, root, Path(tmp) / source) for _ in range(args.repeat)]
            best = min(times)
            target = TARGET_S.get(source)
            verdict = f" (target < {target:.0f}s: {'OK' if best < target else 'MISSED'})" if target else ""
            print(f"==> {source}: end to end {best:.1f}s{verdict}\n")
            if source == "mmlu-pro":
                mmlu_pro_stages(root)
                print()


if __name__ == "__main__":
    main()
