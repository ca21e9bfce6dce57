"""``synergy-lab`` command line: quickstart, data, train."""

from __future__ import annotations

import argparse
import ast
import sys
import time
from pathlib import Path

DEFAULT_QUICKSTART_DIR = Path("results") / "quickstart"


def parse_assignments(pairs) -> dict:
    """``["k=3", "pairing=biased"]`` -> ``{"k": 3, "pairing": "biased"}`` (Python literals, else strings)."""
    params = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise SystemExit(f"error: parameter {pair!r} must look like NAME=VALUE")
        key, raw = pair.split("=", 1)
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        params[key.strip()] = value
    return params


def _format_truth(df) -> str:
    return df.to_string(index=False, float_format=lambda v: f"{v:.6f}")


def cmd_quickstart(args) -> int:
    from .data import make
    from .io import atomic_write_csv

    t0 = time.perf_counter()
    params = {"random_state": args.seed, **parse_assignments(args.param)}
    dataset = make("compositional", **params)
    print(f"compositional dataset: {dataset.n_samples} samples, x1 {dataset.x1.shape[1]}-d, "
          f"x2 {dataset.x2.shape[1]}-d, targets {list(dataset.targets)}")
    print("ground-truth PID (bits), exact BROJA on the factor-level table:")
    print(_format_truth(dataset.ground_truth))
    out = Path(args.out) / "ground_truth.csv"
    atomic_write_csv(dataset.ground_truth, out)
    print(f"wrote {out}  ({time.perf_counter() - t0:.1f} s)")
    return 0


def cmd_data(args) -> int:
    from .data import available_generators, describe, make
    from .data.registry import generator_parameters

    if args.name is None or args.list:
        for name in available_generators():
            print(f"{name}: {generator_parameters(name)}")
        return 0
    params = parse_assignments(args.param)
    if args.describe:
        print(_format_truth(describe(args.name, **params)))
        return 0
    dataset = make(args.name, **params)
    print(f"{args.name}: {dataset.n_samples} samples, x1 {dataset.x1.shape}, x2 {dataset.x2.shape}, "
          f"targets {list(dataset.targets)}")
    print(_format_truth(dataset.ground_truth))
    return 0


def cmd_train(args) -> int:
    from .train import load_config

    if not Path(args.config).is_file():
        raise ValueError(f"config file {args.config!r} not found")
    config = load_config(args.config)
    updates = parse_assignments(args.set)
    if args.out is not None:
        updates["out_dir"] = args.out
    if args.device is not None:
        updates["device"] = args.device
    if args.no_progress:
        updates["progress"] = False
    if updates:
        config = config.override(updates)
    from .train.trainer import train

    result = train(config, resume=not args.no_resume, stop_after=args.stop_after)
    if result.rank != 0:
        return 0
    final = result.history[-1]["loss"] if result.history else float("nan")
    print(f"{config.method.name}: {result.steps}/{config.total_steps} steps "
          f"(resumed from {result.resumed_from}), "
          f"final loss {final:.4f}, {result.samples_per_s:,.0f} samples/s, {result.wall_s:.1f} s")
    for target, m in result.metrics.items():
        val = f", validation {m['val_balanced_accuracy']:.3f}" if "val_balanced_accuracy" in m else ""
        print(f"  probe {target:<12s} balanced accuracy {m['balanced_accuracy']:.3f}{val} "
              f"(chance {m['chance']:.3f})")
    if result.out_dir is not None:
        print(f"wrote {result.out_dir}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="synergy-lab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    q = sub.add_parser("quickstart", help="generate the default compositional dataset and its exact PID")
    q.add_argument("--out", default=str(DEFAULT_QUICKSTART_DIR), help="output folder (default %(default)s)")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--param", "-p", action="append", metavar="NAME=VALUE", help="generator parameter")
    q.set_defaults(func=cmd_quickstart)

    d = sub.add_parser("data", help="build a dataset by name and print its ground-truth PID")
    d.add_argument("name", nargs="?", help="generator name (omit to list them)")
    d.add_argument("--describe", action="store_true", help="print only the ground-truth PID table")
    d.add_argument("--list", action="store_true", help="list generators and their parameters")
    d.add_argument("--param", "-p", action="append", metavar="NAME=VALUE", help="generator parameter")
    d.set_defaults(func=cmd_data)

    t = sub.add_parser("train", help="train a method from a TOML config, then probe it "
                                     "(under torchrun: one process per rank)")
    t.add_argument("config", help="TOML experiment file (see experiments/configs/)")
    t.add_argument("--out", help="output folder (overrides out_dir)")
    t.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a field, e.g. --set optim.lr=1e-3 --set data.params.k=4")
    t.add_argument("--device", help="override device (auto, cpu, cuda, cuda:N)")
    t.add_argument("--no-resume", action="store_true", help="start over instead of resuming from out_dir")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument("--stop-after", type=int, metavar="STEPS",
                   help="stop (checkpointed) after this many steps in total")
    t.set_defaults(func=cmd_train)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
