"""Trifeature renderer (and augmentation) throughput.

Prints images/s of ``synergy_lab.data.trifeature.render_trifeature`` at 32, 64 and 224 px (2,600 images each,
random attributes), the time of the protocol's 2,600 images at 224 px, and optionally the cache write/read
times and the batched SimCLR augmentation's images/s.

    python benchmarks/bench_trifeature.py                   # renderer, 1 and 2 torch threads
    python benchmarks/bench_trifeature.py --augment --cache # + augmentation and cache timings
    python benchmarks/bench_trifeature.py --device cuda     # render and augment on a GPU

The public renderer's per-pixel Python loops take ~0.18 s per 224-px image (~460 s for 2,600 images); the
target here is the 2,600 images at 224 px in under 5 s on 2 cores. Times are the median of ``--repeat`` runs;
other jobs on the machine change them by several times (check ``uptime``).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "2")

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from synergy_lab.data.augment import SimCLRAugment  # noqa: E402
from synergy_lab.data.trifeature import make_trifeature_images, render_trifeature  # noqa: E402


def timed(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2600, help="images per resolution (default 2600)")
    parser.add_argument("--resolutions", type=int, nargs="+", default=[32, 64, 224])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch intra-op threads")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--augment", action="store_true", help="also time SimCLRAugment")
    parser.add_argument("--cache", action="store_true", help="also time the cache write and read at 224 px")
    args = parser.parse_args(argv)

    print(f"python {platform.python_version()}, torch {torch.__version__}, numpy {np.__version__}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}, device {args.device}")
    rng = np.random.default_rng(0)
    s, t, c = rng.integers(0, 10, (3, args.n))
    render_trifeature(s[:50], t[:50], c[:50], 64, random_state=0, device=args.device)  # warm-up
    threads = args.threads if args.device == "cpu" else [None]
    print(f"\nrenderer: {args.n} images of random attributes, median of {args.repeat}")
    print(f"{'px':>5} {'threads':>8} {'seconds':>9} {'images/s':>10}")
    at_224 = {}
    for res in args.resolutions:
        for nt in threads:
            def run(res=res, nt=nt):
                render_trifeature(s, t, c, res, random_state=1, device=args.device, num_threads=nt)
            sec = timed(run, args.repeat)
            print(f"{res:>5} {str(nt):>8} {sec:>9.3f} {args.n / sec:>10.0f}", flush=True)
            if res == 224:
                at_224[nt] = sec
    for nt, sec in at_224.items():
        print(f"{args.n} images at 224 px, {nt} thread(s): {sec:.2f} s "
              f"(public per-pixel renderer: ~{0.18 * args.n:.0f} s; target < 5 s)")

    if args.cache:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            make_trifeature_images(seed=0, resolution=224, cache_dir=tmp, device=args.device)
            first = time.perf_counter() - t0
            t0 = time.perf_counter()
            data = make_trifeature_images(seed=0, resolution=224, cache_dir=tmp)
            second = time.perf_counter() - t0
            size = os.path.getsize(data.params["cache_path"]) / 2**20
        print(f"\ncache at 224 px ({data.n_images} images): render + write {first:.2f} s, "
              f"verified read {second:.2f} s, file {size:.1f} MiB (raw {data.images.nbytes / 2**20:.0f} MiB)")

    if args.augment:
        if args.device == "cpu":
            torch.set_num_threads(min(args.threads))
        print(f"\nSimCLRAugment (SimCLR defaults), batch of 256 uint8 images, median of {args.repeat}, "
              f"{torch.get_num_threads()} torch thread(s) on the CPU")
        print(f"{'px':>5} {'seconds':>9} {'images/s':>10}")
        for res in args.resolutions:
            images = torch.from_numpy(render_trifeature(s[:256], t[:256], c[:256], res, random_state=2))
            images = images.to(args.device)
            aug = SimCLRAugment(res)
            gen = torch.Generator().manual_seed(0)
            aug(images, gen)

            def run(images=images, aug=aug, gen=gen):
                aug(images, gen)
                if images.is_cuda:
                    torch.cuda.synchronize()

            sec = timed(run, args.repeat)
            print(f"{res:>5} {sec:>9.3f} {256 / sec:>10.0f}", flush=True)


if __name__ == "__main__":
    main()
