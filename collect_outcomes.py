"""Collect outcomes: run strategies (model x decoding) on the tasks, grade, measure FLOPs.

Writes the train/val/test CSVs the rest of the pipeline trains on (question_id, model,
decoding, label, flops, + token counts and the parsed answer). Resumable: generations are
appended per batch to <generations_dir>/<strategy>.jsonl and a rerun continues from there.

  python collect_outcomes.py --strategy all
  python collect_outcomes.py --strategy qwen7b_cot --splits train val   # add one strategy
"""
from __future__ import annotations

import argparse
from pathlib import Path

from concur.collect.runner import collect, generations_dir
from concur.config import load_config
from concur.data import SPLITS
from concur.errors import ConcurError, cli_main
from concur.io import prepare_output_dir


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Models need a 'checkpoint' (Hugging Face name or local path) in strategies.json; decodings may "
               "carry a 'template' with a {question} slot (vanilla and cot have built-in ones). Settings: the "
               "config's 'collect' section (backend, batch_size, tensor_parallel_size, max_new_tokens, ...).")
    p.add_argument("--config_path", default="config.yml", help="config file (default: config.yml)")
    p.add_argument("--strategy", nargs="+", required=True, metavar="NAME",
                   help="'all' (every model x decoding in strategies.json) or strategy names '<model>_<decoding>'")
    p.add_argument("--splits", nargs="+", default=list(SPLITS), choices=SPLITS, metavar="SPLIT",
                   help="split CSVs to (re)write (default: train val test). A task already in a split CSV stays "
                        "there; other tasks get a seeded split by collect.split_fractions (default 70/10/20)")
    p.add_argument("--limit", type=int, default=None, metavar="N",
                   help="collect only the first N tasks of each split (for a quick try)")
    p.add_argument("--backend", choices=("auto", "vllm", "transformers"), default=None,
                   help="override collect.backend (auto: vllm when installed and a GPU is present)")
    p.add_argument("--batch_size", type=int, default=None, help="override collect.batch_size")
    p.add_argument("--no_progress", action="store_true", help="hide progress bars")
    return p.parse_args(argv)


@cli_main
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    for flag, value in (("--limit", args.limit), ("--batch_size", args.batch_size)):
        if value is not None and value < 1:
            raise ConcurError(f"{flag} must be a whole number >= 1, got {value}")
    config = load_config(args.config_path)
    # the split CSVs are rewritten in place and generations appended: every folder writable before any generation
    for split in args.splits:
        path = Path(config[f"{split}_data_path"])
        prepare_output_dir(path.parent, f"the folder of {split}_data_path", replaces=[path], temp_names=[path.name])
    prepare_output_dir(generations_dir(config), "collect.generations_dir")
    written, report = collect(config, args.strategy, args.splits, args.limit, args.backend, args.batch_size,
                              progress=not args.no_progress)
    for name, r in report.items():
        print(f"strategy: {name} | number of tasks: {r['tasks']} | accuracy: {r['accuracy']:.3f} | "
              f"unparseable: {r['unparseable']} | mean tokens: {r['mean_prompt_tokens']:.1f} + "
              f"{r['mean_generated_tokens']:.1f} | mean cost: {r['mean_flops']:.4g}")
    for name, path in written.items():
        print(f"wrote {name}: {path}")


if __name__ == "__main__":
    main()
