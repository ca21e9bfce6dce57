"""``synergy-lab`` command line: quickstart, data, train, evaluate, results, report, plot."""

from __future__ import annotations

import argparse
import ast
import sys
import time
from pathlib import Path

from .quickstart import QUICKSTART_STEPS

DEFAULT_QUICKSTART_DIR = Path("results") / "quickstart"


#: Config-file spellings of booleans that ``ast.literal_eval`` does not read.
_TOML_BOOLS = {"true": True, "false": False}


def parse_assignments(pairs) -> dict:
    """``["k=3", "pairing=biased"]`` -> ``{"k": 3, "pairing": "biased"}`` (Python literals, else strings).

    ``true`` and ``false`` are booleans too, as config files spell them."""
    params = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise SystemExit(f"error: parameter {pair!r} must look like NAME=VALUE")
        key, raw = pair.split("=", 1)
        try:
            value = _TOML_BOOLS[raw.strip()] if raw.strip() in _TOML_BOOLS else ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        params[key.strip()] = value
    return params


def _format_truth(df) -> str:
    return df.to_string(index=False, float_format=lambda v: f"{v:.6f}")


def cmd_quickstart(args) -> int:
    if args.truth_only:
        return _quickstart_truth(args)
    from .quickstart import run_quickstart, summary_table

    if args.steps < 1:
        raise ValueError(f"--steps must be >= 1, got {args.steps}")
    t0 = time.perf_counter()
    overrides = {**{f"data.params.{k}": v for k, v in parse_assignments(args.param).items()},
                 **parse_assignments(args.set)}
    print(f"quickstart: Cross, CoMM and InfMasking on compositional vectors, {args.steps} steps, seed "
          f"{args.seed}, {args.n_jobs} workers (one torch thread each), each beside its untrained floor")
    table = run_quickstart(args.out, steps=args.steps, seeds=(args.seed,), n_jobs=args.n_jobs,
                           config_dir=args.configs, overrides=overrides)
    print("\nfair-probe balanced accuracy and bits captured (test split), trained and untrained, beside the "
          "truth I(X1,X2;Y) in bits:")
    print(summary_table(table).to_string(float_format=lambda v: f"{v:.3f}"))
    from .plots import methods_rus_figure

    figure = Path(args.out) / "quickstart.png"
    methods_rus_figure(table, figure)
    print(f"results in {Path(args.out) / 'results.sqlite'}; total {time.perf_counter() - t0:.0f} s")
    print(f"wrote {figure}")
    return 0


def _quickstart_truth(args) -> int:
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
    from .data import available_generators, data_source, describe, generator_parameters, make
    from .data.registry import require_vectors

    if args.name is None or args.list:
        for name in available_generators():
            source = data_source(name)
            print(f"{name} ({source.kind}): {source.summary}\n    {generator_parameters(name)}")
        return 0
    require_vectors(args.name, "synergy-lab data NAME")  # image sources are trained on, not printed
    params = parse_assignments(args.param)
    if args.export is not None:
        from .evaluate.export import export_dataset, load_export

        out = export_dataset(args.name, args.export, **params)
        data = load_export(out)
        sizes = ", ".join(f"{s} {n}" for s, n in data.meta["splits"].items())
        pre = f", pretrain {data.meta['pretrain']}" if data.meta["pretrain"] else ""
        print(f"wrote {out}: {args.name} splits ({sizes}{pre}), targets {data.meta['targets']}")
        return 0
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

    if args.stop_after is not None and args.stop_after < 1:
        raise ValueError(f"--stop-after must be >= 1 (steps done in total), got {args.stop_after}")
    config = load_config(args.config)  # a missing file or a folder: ValueError naming it
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
    if result.scores:
        from .evaluate.score import format_scores

        print("scores (bits in bits, truths in brackets; `synergy-lab evaluate RUN_DIR --untrained` gives "
              "the floor):")
        print(format_scores(result.scores))
    if result.out_dir is not None:
        print(f"wrote {result.out_dir}")
    return 0


def cmd_evaluate(args) -> int:
    from .evaluate.score import format_scores

    if args.features is not None or args.data is not None:
        if args.features is None or args.data is None or args.run_dir is not None:
            raise ValueError("--features FEATS.npz and --data DIR go together, without RUN_DIR")
        if args.untrained or args.raw:
            raise ValueError("--untrained and --raw score a saved run (RUN_DIR), not --features")
        from .evaluate.export import load_export, load_features
        from .evaluate.score import score_representation

        data = load_export(args.data)
        feats = load_features(args.features, data)
        rows = score_representation(feats, {s: data.labels[s] for s in feats}, factors=data.factors,
                                    ground_truth=data.ground_truth, targets=args.target,
                                    random_state=args.seed)
        what = f"features {args.features} on {args.data}"
    else:
        if args.run_dir is None:
            raise ValueError("give RUN_DIR (a training run's out_dir) or --features FEATS.npz --data DIR")
        if args.untrained and args.raw:
            raise ValueError("--untrained and --raw exclude each other")
        from .train.saved_run import score_saved_run

        mode = "untrained" if args.untrained else "raw" if args.raw else "trained"
        rows = score_saved_run(args.run_dir, mode, targets=args.target, device=args.device)
        what = f"{args.run_dir} ({mode})"
    print(f"scores of {what}; bits in bits, truths in brackets:")
    print(format_scores(rows))
    if args.out is not None:
        import pandas as pd

        from .io import atomic_write_csv

        atomic_write_csv(pd.DataFrame(rows), args.out, index=False)
        print(f"wrote {args.out}")
    return 0


def cmd_results(args) -> int:
    from .experiments.results import export_results, import_table, store_summary

    if args.results_command == "export":
        print(f"wrote {export_results(args.store, args.out)}")
    elif args.results_command == "import":
        print(f"copied {import_table(args.table, args.store)} rows into {args.store}")
    else:
        print(store_summary(args.store))
    return 0


def cmd_report(args) -> int:
    from .experiments.report import markdown_report
    from .experiments.results import read_results

    if not Path(args.store).exists():
        raise ValueError(f"store {args.store!r} not found")
    table = read_results(args.store)
    if args.experiment:
        table = table[table["experiment"].isin(args.experiment)]
    print(markdown_report(table, args.reference, metrics=args.metric, targets=args.target, by=args.by,
                          confidence=args.confidence))
    return 0


def cmd_plot(args) -> int:
    from .experiments.results import read_results
    from .plots import FIGURES

    figure = FIGURES[args.name]
    store = Path(args.store) if args.store is not None else figure.store
    if not store.exists():
        raise ValueError(f"store {str(store)!r} not found: run the {args.name} figure's experiment first, or "
                         "give --store")
    table = read_results(store)
    if args.experiment is not None and "experiment" in table.columns:
        table = table[table["experiment"] == args.experiment]
    if table.empty:
        raise ValueError(f"store {str(store)!r} has no rows" + (f" of experiment {args.experiment!r}"
                                                                 if args.experiment else ""))
    out = Path(args.out) if args.out is not None else Path("figures") / f"{args.name}.png"
    try:
        figure.function(table, out)
    except ValueError as exc:
        raise ValueError(f"store {str(store)!r} lacks the rows of the {args.name} figure: {exc}") from exc
    print(f"wrote {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="synergy-lab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    q = sub.add_parser("quickstart", help="train Cross, CoMM and InfMasking in parallel on compositional "
                                          "vectors and score them against the truth (a few minutes)")
    q.add_argument("--out", default=str(DEFAULT_QUICKSTART_DIR), help="output folder (default %(default)s)")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--param", "-p", action="append", metavar="NAME=VALUE", help="generator parameter")
    q.add_argument("--truth-only", action="store_true",
                   help="only generate the default compositional dataset and print its exact PID")
    q.add_argument("--steps", type=int, default=QUICKSTART_STEPS, help="training steps (default %(default)s)")
    q.add_argument("--n-jobs", type=int, default=2, help="parallel workers (default %(default)s)")
    q.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a config field of every run, e.g. --set data.n_train=5000")
    q.add_argument("--configs", help="folder of the compositional_<method>.toml configs "
                                     "(default: the checkout's experiments/configs)")
    q.set_defaults(func=cmd_quickstart)

    d = sub.add_parser("data", help="build a dataset by name and print its ground-truth PID")
    d.add_argument("name", nargs="?", help="generator name (omit to list them)")
    d.add_argument("--describe", action="store_true", help="print only the ground-truth PID table")
    d.add_argument("--list", action="store_true", help="list generators and their parameters")
    d.add_argument("--param", "-p", action="append", metavar="NAME=VALUE", help="generator parameter")
    d.add_argument("--export", metavar="DIR", help="write train/val/test splits (+ pretrain pairs) as .npz "
                                                   "for models outside synergy-lab (docs/evaluate.md)")
    d.set_defaults(func=cmd_data)

    t = sub.add_parser("train", help="train a method from a TOML config, then score it "
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

    e = sub.add_parser("evaluate", help="score a representation: fair and paper probes, bits captured, "
                                        "read-out PID, beside the exact truth")
    e.add_argument("run_dir", nargs="?", help="a training run's out_dir (its config.toml and checkpoint)")
    e.add_argument("--untrained", action="store_true", help="the architecture at initialisation (floor)")
    e.add_argument("--raw", action="store_true", help="the raw inputs as features")
    e.add_argument("--features", metavar="FEATS.npz", help="features computed elsewhere: arrays train, test "
                                                            "(and val), rows aligned with --data")
    e.add_argument("--data", metavar="DIR", help="an export of `synergy-lab data NAME --export DIR`")
    e.add_argument("--target", nargs="+", help="only these targets")
    e.add_argument("--seed", type=int, default=0, help="seed of carved validation parts and the bootstrap "
                                                       "(--features; a run uses its own seed)")
    e.add_argument("--device", default="cpu", help="where a saved run's features are computed")
    e.add_argument("--out", help="also write the tidy rows as CSV")
    e.set_defaults(func=cmd_evaluate)

    r = sub.add_parser("results", help="inspect, export or import a results store (.sqlite)")
    rsub = r.add_subparsers(dest="results_command", required=True)
    r_summary = rsub.add_parser("summary", help="tasks done / failed (with errors) and rows per method")
    r_summary.add_argument("store", help="results store (.sqlite)")
    r_export = rsub.add_parser("export", help="write the tidy table as .csv (or .parquet with pyarrow)")
    r_export.add_argument("store", help="results store (.sqlite), or a table to convert")
    r_export.add_argument("out", help="output file: .csv or .parquet")
    r_import = rsub.add_parser("import", help="copy a CSV table written by an earlier run_tasks into a store")
    r_import.add_argument("table", help="tidy table (.csv or .parquet) with a task_id column")
    r_import.add_argument("store", help="results store (.sqlite); created if absent")
    r.set_defaults(func=cmd_results)

    rp = sub.add_parser("report", help="mean ± sd, 95%% CIs and paired tests against a reference method "
                                       "(markdown)")
    rp.add_argument("store", help="results store (.sqlite) or table (.csv)")
    rp.add_argument("--reference", required=True, help="method the others are compared with, seed by seed")
    rp.add_argument("--metric", nargs="+", help="only these metrics")
    rp.add_argument("--target", nargs="+", help="only these targets")
    rp.add_argument("--experiment", nargs="+", help="only these experiments")
    rp.add_argument("--by", nargs="+", help="columns that identify a quantity (default: experiment, dataset, "
                                            "params, target, metric)")
    rp.add_argument("--confidence", type=float, default=0.95, help="interval level (default %(default)s)")
    rp.set_defaults(func=cmd_report)

    from .plots import FIGURES

    pl = sub.add_parser("plot", help="redraw a figure from its results store: "
                                     + ", ".join(FIGURES))
    pl.add_argument("name", choices=list(FIGURES), help="; ".join(f"{k}: {v.summary} (store {v.store})"
                                                                  for k, v in FIGURES.items()))
    pl.add_argument("--store", help="results store to draw from (default: the figure's experiment store)")
    pl.add_argument("--out", help="image file (default figures/NAME.png)")
    pl.add_argument("--experiment", help="only rows of this experiment (e.g. quickstart)")
    pl.set_defaults(func=cmd_plot)
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
