#!/usr/bin/env bash
# GPU check: train InfMasking and CoMM at paper scale on Trifeature-shaped inputs and print samples/s, peak
# memory and loss curves for both (one H200: well under 8 minutes with the defaults).
#
# Paper scale (docs/methods.md, docs/trifeature.md): two 3x224x224 image modalities, AlexNet `features` encoders trained
# from scratch (256x6x6 maps -> 36 tokens per modality), fusion width E=512, 8 heads, 1 block, head
# 512-512-256 with per-view BatchNorm, T=6 masked views at ratio 0.7, batch 64, AdamW lr 3e-4, wd 1e-4,
# bfloat16 autocast, batched SimCLR augmentation on the GPU. The inputs are bimodal Trifeature pairs
# (data.name = "trifeature", 10,000 biased training pairs rendered on the GPU, index-based batches); the
# probes are off (a throughput check; experiments/trifeature/ has the full runs).
#
# Usage:
#   benchmarks/gpu_check.sh                 # both methods, 3 epochs each, on CUDA
#   benchmarks/gpu_check.sh --epochs 2 --compile
#   benchmarks/gpu_check.sh --smoke         # tiny CPU run of the same code path (< 30 s; run by the tests)
# Flags: --epochs N, --n-train N, --batch-size N, --budget-s S (per method: stop early, default 180),
#        --compile, --methods infmasking,comm, --smoke.  PYTHON selects the interpreter (default: python).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-python}" - "$@" <<'PY'
import argparse
import os
import sys
import time

parser = argparse.ArgumentParser(prog="gpu_check.sh")
parser.add_argument("--smoke", action="store_true", help="tiny CPU run of the same code path")
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--n-train", type=int, default=10_000)
parser.add_argument("--batch-size", type=int, default=64)
parser.add_argument("--budget-s", type=float, default=180.0, help="per-method time limit (stops early)")
parser.add_argument("--compile", action="store_true")
parser.add_argument("--methods", default="infmasking,comm")
args = parser.parse_args()

if args.smoke:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
import torch  # noqa: E402

from synergy_lab.train import TrainConfig  # noqa: E402
from synergy_lab.train.trainer import train  # noqa: E402

if args.smoke:
    torch.set_num_threads(1)
    device, resolution, n_train, batch, steps = "cpu", 32, 32, 8, 4
    model = {"encoder": "alexnet", "grid": 2, "fusion_dim": 32, "fusion_heads": 4, "head_hidden": 32,
             "head_out": 16, "T": 2, "mask_ratio": 0.5}
else:
    if not torch.cuda.is_available():
        sys.exit("gpu_check: CUDA is not available (use --smoke for the CPU smoke run)")
    device, resolution, n_train, batch, steps = "cuda", 224, args.n_train, args.batch_size, None
    model = {"encoder": "alexnet", "fusion_dim": 512, "fusion_depth": 1, "fusion_heads": 8, "head_hidden": 512,
             "head_out": 256, "head_layers": 3, "head_norm": "batch", "T": 6, "mask_ratio": 0.7}
    name = torch.cuda.get_device_name()
    print(f"device: {name}, torch {torch.__version__}, bf16 autocast, compile={args.compile}")


class TimeUp(Exception):
    pass


def run(method):
    optim = {"batch_size": batch, "lr": 3e-4, "weight_decay": 1e-4}
    optim.update({"steps": steps} if steps else {"epochs": args.epochs})
    cfg = TrainConfig(
        method={"name": method, "temperature": 0.1, "lam": 1.0,
                "weights": [1, 1, 1, 1, 5] if method == "infmasking" else None},
        data={"name": "trifeature", "params": {"resolution": resolution}, "n_train": n_train,
              "n_probe": 2, "n_val": 2},
        model=model, optim=optim, eval={"enabled": False}, device=device, compile=args.compile,
        progress=False, log_every=1 if args.smoke else 20, seed=0,
    )
    curve, start = [], time.perf_counter()
    state = {"t": start, "step": 0}

    def on_step(step, record):
        curve.append((step, record["loss"]))
        if step % (1 if args.smoke else 20) == 0:
            now = time.perf_counter()
            rate = (step - state["step"]) * batch / max(now - state["t"], 1e-9)
            state.update(t=now, step=step)
            print(f"  {method} step {step:5d}/{cfg.total_steps} epoch {record['epoch']} loss {record['loss']:.4f} "
                  f"({rate:,.0f} pairs/s)", flush=True)
        if time.perf_counter() - start > args.budget_s:
            raise TimeUp

    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    print(f"{method}: {cfg.total_steps} steps of {batch} pairs at {resolution}px, E={model['fusion_dim']}, "
          f"T={model['T']}", flush=True)
    stopped = False
    try:
        result = train(cfg, on_step=on_step)
        wall, rate = result.wall_s, result.samples_per_s
    except TimeUp:
        stopped, wall = True, time.perf_counter() - start
        rate = len(curve) * batch / wall  # includes set-up: a lower bound
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else float("nan")
    return {"method": method, "steps": len(curve), "wall_s": wall, "pairs_per_s": rate, "peak_gib": peak,
            "stopped": stopped, "curve": curve}


results = [run(m) for m in args.methods.split(",")]
print("\nsummary (pairs/s = training pairs of 2 images each per second, set-up excluded unless stopped early)")
print(f"{'method':<12}{'steps':>7}{'wall s':>9}{'pairs/s':>10}{'images/s':>10}{'peak GiB':>10}")
for r in results:
    flag = "  (budget hit)" if r["stopped"] else ""
    print(f"{r['method']:<12}{r['steps']:>7}{r['wall_s']:>9.1f}{r['pairs_per_s']:>10,.0f}"
          f"{2 * r['pairs_per_s']:>10,.0f}{r['peak_gib']:>10.2f}{flag}")
print("\nloss curves (step: loss, every ~10% of the run)")
for r in results:
    c = r["curve"]
    every = max(1, len(c) // 10)
    points = c[::every] + ([c[-1]] if c and (len(c) - 1) % every else [])
    print(f"{r['method']:<12}" + "  ".join(f"{s}:{v:.3f}" for s, v in points))
ok = all(r["curve"] and r["curve"][-1][1] == r["curve"][-1][1] for r in results)  # finite (not NaN)
sys.exit(0 if ok else 1)
PY
