"""Benchmark the embedding step: the default dtype against float32, and the embedding cache.

On a seeded sample of a data set's task texts (default: 800 from the given task.json), with torch's
default CPU threads unless --threads:
  - throughput (texts/s, best of --repeats after a warm-up batch) of embedding.dtype 'auto' (bfloat16
    autocast where the CPU or GPU has native bf16, else float32) and of float32, and the mean and
    minimum cosine between their vectors;
  - embed_all on the sample written as a data set, twice with one fresh cache folder: the first run
    embeds (misses), the second is another data set folder with the same texts (cache hits: the
    model must not load).
Where the device has no native bf16 the default is float32, and forced bfloat16 is also timed on a
subset (it is emulated there). Targets (issue 16): the default >= 2.4x float32 throughput at mean
cosine >= 0.999.

  python benchmarks/bench_embeddings.py --tasks /path/to/mmlu_pro/data/task.json [--n 800] [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from concur import embeddings as E  # noqa: E402
from concur.config import folder_config_text, load_config  # noqa: E402
from concur.data import load_strategies, load_tasks, read_task_records  # noqa: E402


def throughput(embedder: E.TextEmbedder, texts: list[str], repeats: int) -> tuple[float, torch.Tensor]:
    embedder.encode(texts[:embedder.batch_size])  # warm-up
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = embedder.encode(texts)
        best = min(best, time.perf_counter() - start)
    return len(texts) / best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=Path, required=True, help="a task.json (or .jsonl)")
    ap.add_argument("--n", type=int, default=800, help="texts sampled (seeded)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--model", default="default")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    records = read_task_records(args.tasks)
    pick = np.sort(np.random.default_rng(0).choice(len(records), size=min(args.n, len(records)), replace=False))
    sample = [records[i] for i in pick]
    tmp = Path(tempfile.mkdtemp(prefix="bench_embeddings_"))
    try:
        (tmp / "task.json").write_text(json.dumps(sample))
        texts = load_tasks(tmp / "task.json").texts()
        default = E.resolve_dtype("auto", E.resolve_device(args.device))
        print(f"{len(texts)} texts from {args.tasks} (median {int(np.median([len(t) for t in texts]))} chars); "
              f"device {args.device}, torch threads {torch.get_num_threads()}; bf16 native: "
              f"{E.bf16_native(E.resolve_device(args.device))} -> default dtype {default}")
        speed, vecs = {}, {}
        for dtype in ("float32", "auto"):
            embedder = E.TextEmbedder(args.model, args.device, dtype=dtype)
            speed[dtype], vecs[dtype] = throughput(embedder, texts, args.repeats)
            print(f"  {dtype:7s} ({embedder.dtype}): {speed[dtype]:6.1f} texts/s")
            del embedder
        if default == "float32":  # no native bf16: show what forcing it costs (on a subset: it is slow)
            sub = texts[:max(64, len(texts) // 8)]
            forced = E.TextEmbedder(args.model, args.device, dtype="bfloat16")
            rate, _ = throughput(forced, sub, 1)
            f32_rate, _ = throughput(E.TextEmbedder(args.model, args.device, dtype="float32"), sub, 1)
            print(f"  bfloat16 forced without native support, {len(sub)} texts: {rate:6.1f} texts/s "
                  f"({rate / f32_rate:.2f}x float32's {f32_rate:.1f} on the same texts)")
            del forced
        cos = torch.nn.functional.cosine_similarity(vecs["auto"], vecs["float32"], dim=1)
        print(f"default / float32 throughput: {speed['auto'] / speed['float32']:.2f}x   target >= 2.4x; "
              f"cosine to float32: mean {cos.mean():.6f}, min {cos.min():.6f}   target mean >= 0.999")

        # the embedding cache: a data set embedded once, then the same texts in another folder
        catalog = json.loads((REPO / "strategies.json").read_text())
        cache_dir = tmp / "cache"
        times = []
        for tag in ("first", "second"):
            folder = tmp / tag
            folder.mkdir()
            shutil.copy2(tmp / "task.json", folder / "task.json")
            (folder / "strategies.json").write_text(json.dumps(catalog))
            for split in ("train", "val", "test"):
                (folder / f"{split}.csv").write_text("question_id,model,decoding,label,flops\n")
            (folder / "config.yml").write_text(folder_config_text(
                {"embedding": {"model": args.model, "device": args.device, "cache_dir": str(cache_dir)}}))
            cfg = load_config(folder / "config.yml")
            logs: list[str] = []
            start = time.perf_counter()
            E.embed_all(cfg, load_tasks(cfg.task_path), load_strategies(cfg.strategy_path), progress=False,
                        log=logs.append)
            times.append(time.perf_counter() - start)
            loaded = any(m.startswith("embedding with") for m in logs)
            print(f"  embed_all, {tag} data set: {times[-1]:.2f} s (model loaded: {loaded})")
        n_files = sum(1 for _ in cache_dir.rglob("*.emb"))
        print(f"cache: {n_files} entries; the second data set took {times[1]:.2f} s, "
              f"{times[0] / max(times[1], 1e-9):.0f}x less than embedding")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
