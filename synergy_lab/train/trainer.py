"""One training loop for every method: ``train(config)``.

Per step: the global batch indices of the step (seeded epoch permutation, drop-last), this rank's shard,
freshly seeded random streams (:mod:`.distributed`), the method's step under autocast (bfloat16 on CUDA by
default), backward, optional gradient clipping, AdamW, the LR schedule, and the extra optimiser step a
method may declare (:meth:`~synergy_lab.methods.MethodSystem.critic_step`). The trainer asks the method
object what it needs (that step, the labels its batches carry, its probe features), never its name.
Losses are read back from the device every ``log_every`` steps (progress bar: loss and samples/s).
Checkpoints every ``checkpoint_every`` steps and at the end; an existing ``out_dir`` is resumed from its
newest checkpoint that verifies (:mod:`.checkpoint`: damaged ones are reported and set aside), which on CPU
reproduces the uninterrupted run bit for bit (same parameters, same loss history). A non-finite loss stops
the run with a ``ValueError`` naming the step (checked where the losses are read back, so the hot loop gains
no sync). After training, rank 0 scores the representation against the data's exact ground truth
(:meth:`Trainer.evaluate`: fair and paper probes with C chosen per probe on held-out pairs, bits captured,
read-out PID) and writes the tidy rows to ``metrics.json``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..io import atomic_write_json, atomic_write_text
from ..methods import MethodSystem, StepContext, build_method, make_augment
from .checkpoint import (
    checkpoint_dir,
    checkpoint_path,
    config_differences,
    latest_checkpoint,
    load_latest_valid,
    prune_checkpoints,
    remove_stale_temporaries,
    save_checkpoint,
)
from .config import TrainConfig, config_from_dict, dump_config, load_config
from .data import RunData, build_run_data
from .distributed import (
    STREAM_INIT,
    STREAM_LOCAL,
    STREAM_SHARED,
    DistInfo,
    barrier,
    cleanup_distributed,
    derive_seed,
    device_type,
    epoch_permutation,
    init_distributed,
    rank_slice,
    resolve_device,
)


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes
    ----------
    config : TrainConfig
    system : MethodSystem
        The trained model + loss (unwrapped, on the training device, eval mode).
    history : list of dict
        One record per optimiser step: ``step`` (1-based), ``epoch``, ``loss``, ``lr``.
    metrics : dict
        The scores per target, ``{target: {metric: value, "truth_<metric>": ..., "n_classes": ...}}``
        (:func:`synergy_lab.evaluate.metrics_by_target` of ``scores``: ``balanced_accuracy`` of the fair
        probe, ``balanced_accuracy_paper``, ``chance``, ``bits``, ``bits_low``/``bits_high``,
        ``capture_ratio``, the read-out PID atoms, the C each probe chose, ``val_balanced_accuracy`` where
        the data has a validation split). Empty when eval is off, the run stopped early, or on ranks other
        than 0.
    scores : list of dict
        The same scores as tidy rows (:func:`synergy_lab.evaluate.score_representation`; print them with
        :func:`synergy_lab.evaluate.format_scores`).
    steps : int
        Steps done in total (including those before a resume).
    resumed_from : int
        Step of the checkpoint the run resumed from (0 for a fresh run).
    wall_s : float
        Seconds spent in this call's training loop.
    samples_per_s : float
        Global training pairs per second in this call (0 if no step ran).
    peak_memory_bytes : int
        Peak CUDA memory allocated (0 on CPU).
    out_dir : Path or None
    rank, world_size : int
    """

    config: TrainConfig
    system: MethodSystem
    history: list = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    scores: list = field(default_factory=list)
    steps: int = 0
    resumed_from: int = 0
    wall_s: float = 0.0
    samples_per_s: float = 0.0
    peak_memory_bytes: int = 0
    out_dir: Path | None = None
    rank: int = 0
    world_size: int = 1

    @property
    def losses(self) -> list[float]:
        return [h["loss"] for h in self.history]


def _as_config(config) -> TrainConfig:
    if isinstance(config, TrainConfig):
        return config
    if isinstance(config, dict):
        return config_from_dict(config)
    if isinstance(config, (str, Path)):
        return load_config(config)
    raise TypeError(f"config must be a TrainConfig, a dict or a TOML path, got {type(config).__name__}")


def param_groups(system: nn.Module, exclude: set[int], weight_decay: float) -> list[dict]:
    """AdamW groups: decay on parameters with >= 2 dimensions (weights), none on the rest (biases, norms,
    CLS / mask tokens, scalars); parameters whose ``id`` is in ``exclude`` are left out."""
    decay, no_decay = [], []
    for p in system.parameters():
        if not p.requires_grad or id(p) in exclude:
            continue
        (decay if p.ndim >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def lr_factor(step: int, total: int, warmup: int, cosine: bool, min_ratio: float) -> float:
    """LR multiplier after ``step`` scheduler steps: linear warmup, then constant or cosine decay."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    if not cosine:
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


#: Files and folders a run writes into ``out_dir``.
_OUTPUT_FILES = ("config.toml", "history.csv", "metrics.json")


def check_out_dir(out_dir) -> None:
    """Raise ``ValueError`` naming ``out_dir`` if a run could not write its outputs there.

    ``out_dir`` (and its ``checkpoints`` folder) must be folders or not exist yet; the output files must not
    be folders. Checked before any data is built, so a typo costs no time.
    """
    if out_dir is None:
        return
    path = Path(out_dir)
    for parent in (path, *path.parents):
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                what = "out_dir" if parent == path else f"out_dir: its parent {str(parent)!r}"
                raise ValueError(f"{what} is not a folder ({str(path)!r})")
            break
    folder = checkpoint_dir(path)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"out_dir {str(path)!r} holds a file named 'checkpoints' where the checkpoint "
                         f"folder goes: remove it or use another out_dir")
    for name in _OUTPUT_FILES:
        if (path / name).is_dir():
            raise ValueError(f"out_dir {str(path)!r} holds a folder named {name!r} where that output file "
                             f"goes: remove it or use another out_dir")


def check_stop_after(stop_after) -> int | None:
    """``stop_after`` as an int >= 1 (or None); ``TypeError`` / ``ValueError`` naming it otherwise."""
    if stop_after is None:
        return None
    if isinstance(stop_after, bool) or not isinstance(stop_after, int):
        raise TypeError(f"stop_after must be an integer number of steps, got {stop_after!r}")
    if stop_after < 1:
        raise ValueError(f"stop_after must be >= 1 (steps done in total), got {stop_after}")
    return stop_after


class DivergenceError(ValueError):
    """Training produced a non-finite loss (or parameters): the learning rate is usually too high."""

    def __init__(self, step: int, detail: str):
        super().__init__(f"optim.lr: the loss became non-finite at step {step} ({detail}); training "
                         f"diverged: lower optim.lr or set optim.grad_clip")
        self.step = step


def _first_non_finite(records: list[dict]) -> dict | None:
    return next((r for r in records if not math.isfinite(r["loss"])), None)


class Trainer:
    """Builds data, model, optimisers and schedule for a config; :meth:`fit` runs (or resumes) training."""

    def __init__(self, config):
        self.config = _as_config(config)

    # ------------------------------------------------------------------------------------------ setup
    def _setup(self, dist_info: DistInfo, device: torch.device) -> None:
        cfg = self.config
        self.dist, self.device = dist_info, device
        rank_slice(cfg.optim.batch_size, dist_info.rank, dist_info.world_size)  # validates divisibility
        self.data: RunData = build_run_data(cfg, device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(cfg.seed, STREAM_INIT))
            system = build_method(cfg, self.data.spec)
        self.system = system.to(device)
        self.augment = make_augment(cfg, self.data.spec)
        self.critic = system.critic_step()  # the method's extra optimiser step, if it declares one
        critic = self.critic.parameters if self.critic is not None else []
        o = cfg.optim
        self.optimizer = torch.optim.AdamW(param_groups(system, {id(p) for p in critic}, o.weight_decay),
                                           lr=o.lr, betas=o.betas)
        self.critic_optimizer = None
        if self.critic is not None:
            lr = o.lr if self.critic.lr is None else self.critic.lr
            self.critic_optimizer = torch.optim.AdamW(critic, lr=lr, betas=o.betas, weight_decay=0.0)
        total = cfg.total_steps
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_factor(s, total, o.warmup_steps, o.cosine, o.min_lr_ratio))
        use_bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and device.type == "cuda")
        self.autocast = dict(device_type=device.type, dtype=torch.bfloat16, enabled=use_bf16)

    def _wrap(self) -> nn.Module:
        if self.config.compile:
            self.system.compile_parts()
        if not self.dist.distributed:
            return self.system
        from torch.nn.parallel import DistributedDataParallel as DDP

        critic = {id(p) for p in self.critic.parameters} if self.critic is not None else set()
        ignore = [name for name, p in self.system.named_parameters() if id(p) in critic]
        if ignore:  # trained by the critic step on identical (gathered) inputs: no gradient sync needed
            DDP._set_params_and_buffers_to_ignore_for_ddp(self.system, ignore)
        # Inputs are already on the device; BatchNorm running statistics stay per rank (rank 0's are saved).
        import inspect

        sync = ({"forward_sync_buffers": False} if "forward_sync_buffers" in inspect.signature(DDP).parameters
                else {"broadcast_buffers": False})
        return DDP(self.system, device_ids=None, **sync)

    # ------------------------------------------------------------------------------------ checkpoints
    def _state(self, step: int, history: list, wall_s: float) -> dict:
        return {
            "step": step,
            "config": self.config.fingerprint(),
            "system": self.system.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "critic_optimizer": None if self.critic_optimizer is None else self.critic_optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "history": list(history),
            "rng": {"scheme": "derive_seed(seed, stream, step)", "seed": self.config.seed},
            "world_size": self.dist.world_size,
            "wall_s": wall_s,
        }

    def _save(self, step: int, history: list, wall_s: float) -> None:
        cfg = self.config
        if cfg.out_dir is None or not self.dist.is_main:
            return
        save_checkpoint(checkpoint_path(cfg.out_dir, step), self._state(step, history, wall_s))
        prune_checkpoints(cfg.out_dir, cfg.keep_checkpoints)

    def _resume(self) -> tuple[int, list, float]:
        cfg = self.config
        if cfg.out_dir is None:
            return 0, [], 0.0
        found = load_latest_valid(cfg.out_dir, self.device, report=self.dist.is_main)
        if found is None:
            return 0, [], 0.0
        state = found[1]
        diff = config_differences(state["config"], cfg.fingerprint(), defaults=TrainConfig().fingerprint())
        if diff:
            raise ValueError(f"out_dir {cfg.out_dir!r} holds checkpoints of a different config (fields "
                             f"{', '.join(diff)} differ): use another out_dir, or resume=False")
        self.system.load_state_dict(state["system"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.critic_optimizer is not None:
            self.critic_optimizer.load_state_dict(state["critic_optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        return int(state["step"]), list(state["history"]), float(state.get("wall_s", 0.0))

    # ------------------------------------------------------------------------------------------- loop
    def fit(self, *, resume: bool = True, stop_after: int | None = None,
            on_step: Callable[[int, dict], None] | None = None) -> TrainResult:
        """Train (resuming from the latest checkpoint in ``out_dir`` when ``resume``) and probe.

        ``stop_after``: stop once this many steps are done in total, after checkpointing (as if
        interrupted; no probes). ``on_step(step, record)`` is called after each logged flush with each new
        history record (may raise to interrupt training).
        """
        cfg = self.config
        stop_after = check_stop_after(stop_after)
        check_out_dir(cfg.out_dir)
        dev_type = device_type(cfg.device)
        info = init_distributed(dev_type)
        ok = False
        try:
            device = resolve_device(cfg.device, info.local_rank)
            if info.distributed and device.type == "cuda":
                device = torch.device("cuda", info.local_rank)  # one GPU per rank, whatever the index given
            self._setup(info, device)
            result = self._fit(resume, stop_after, on_step)
            ok = True
            return result
        finally:
            cleanup_distributed(info, synchronise=ok)  # no barrier on failure: other ranks may be gone

    def _fit(self, resume, stop_after, on_step) -> TrainResult:
        cfg, info, device = self.config, self.dist, self.device
        if cfg.out_dir is not None and info.is_main:
            remove_stale_temporaries(cfg.out_dir)  # left by saves killed mid-write
        if resume:
            start, history, wall_before = self._resume()
        else:
            start, history, wall_before = 0, [], 0.0
            if cfg.out_dir is not None and info.is_main:
                prune_checkpoints(cfg.out_dir, 0)  # start over: old checkpoints must not be resumed later
            barrier(info)
        if cfg.out_dir is not None and info.is_main:
            atomic_write_text(Path(cfg.out_dir) / "config.toml", dump_config(cfg))
        model = self._wrap()
        total, spe, gb = cfg.total_steps, cfg.steps_per_epoch, cfg.optim.batch_size
        end = total if stop_after is None else max(start, min(total, stop_after))
        shard = rank_slice(gb, info.rank, info.world_size)
        target = self.system.label_target  # None: the method needs no labels
        shared = torch.Generator(device=device)
        local = torch.Generator(device=device)
        n_train = len(self.data.train)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        progress = None
        if cfg.progress and info.is_main:
            from tqdm.auto import tqdm

            progress = tqdm(total=total, initial=start, desc=cfg.method.name, unit="step", dynamic_ncols=True)
        self.system.train()
        order, order_epoch = None, -1
        pending: list[tuple[int, int, torch.Tensor, float]] = []
        t0 = time.perf_counter()
        window_t, window_steps = t0, 0
        samples_per_s = 0.0

        def flush():
            nonlocal window_t, window_steps, samples_per_s
            if not pending:
                return
            values = torch.stack([p[2] for p in pending]).float().cpu().tolist()
            new = [{"step": s, "epoch": e, "loss": v, "lr": lr}
                   for (s, e, _, lr), v in zip(pending, values, strict=True)]
            pending.clear()
            # Checked where the losses are read back anyway: no extra device sync in the hot loop.
            bad = _first_non_finite(new)
            if bad is not None:
                raise DivergenceError(bad["step"], f"loss {bad['loss']}")
            history.extend(new)
            now = time.perf_counter()
            if now > window_t:
                samples_per_s = window_steps * gb / (now - window_t)
            window_t, window_steps = now, 0
            if progress is not None:
                progress.set_postfix(loss=f"{new[-1]['loss']:.4f}", samples_s=f"{samples_per_s:,.0f}")
            if on_step is not None:
                for rec in new:
                    on_step(rec["step"], rec)

        try:
            for step in range(start, end):
                epoch, pos = divmod(step, spe)
                if epoch != order_epoch:
                    order, order_epoch = epoch_permutation(n_train, cfg.seed, epoch).to(device), epoch
                index = order[pos * gb:(pos + 1) * gb][shard]
                batch = self.data.train.batch(index, target)
                shared.manual_seed(derive_seed(cfg.seed, STREAM_SHARED, step))
                local.manual_seed(derive_seed(cfg.seed, STREAM_LOCAL, step, info.rank))
                ctx = StepContext(step=step, epoch=epoch, max_epochs=cfg.max_epochs, generator=shared,
                                  local_generator=local, global_batch=gb, shard=shard, augment=self.augment)
                lr = self.optimizer.param_groups[0]["lr"]
                try:
                    with torch.autocast(**self.autocast):
                        out = model(batch, ctx)
                except ValueError as exc:
                    # The method's input checks reject the NaN / overflowed activations of a diverged run
                    # before its loss is computed. The same step worked on valid values at step `start`, so
                    # a later ValueError is the divergence, reported as such (with the symptom).
                    if step == start:
                        raise
                    flush()  # an earlier non-finite loss is the better report
                    raise DivergenceError(step + 1, f"not computable: {exc}") from exc
                self.optimizer.zero_grad(set_to_none=True)
                out.loss.backward()
                if cfg.optim.grad_clip is not None:
                    nn.utils.clip_grad_norm_(
                        [p for g in self.optimizer.param_groups for p in g["params"]], cfg.optim.grad_clip)
                self.optimizer.step()
                self.scheduler.step()
                if self.critic_optimizer is not None:
                    self.critic_optimizer.zero_grad(set_to_none=True)
                    with torch.autocast(**self.autocast):
                        critic_loss = self.critic.loss(out.aux)
                    critic_loss.backward()
                    self.critic_optimizer.step()
                pending.append((step + 1, epoch, out.loss.detach(), lr))
                window_steps += 1
                if progress is not None:
                    progress.update(1)
                done = step + 1
                if done % cfg.log_every == 0 or done == end:
                    flush()
                if cfg.checkpoint_every and done % cfg.checkpoint_every == 0 and done != end:
                    flush()
                    self._save(done, history, wall_before + time.perf_counter() - t0)
        finally:
            if progress is not None:
                progress.close()
        flush()
        wall = time.perf_counter() - t0
        done = max(start, end)
        if end > start or (cfg.out_dir is not None and latest_checkpoint(cfg.out_dir) is None):
            self._save(done, history, wall_before + wall)
        ran = end - start
        result = TrainResult(
            config=cfg, system=self.system, history=history, steps=done, resumed_from=start, wall_s=wall,
            samples_per_s=ran * gb / wall if ran and wall > 0 else 0.0,
            peak_memory_bytes=torch.cuda.max_memory_allocated(device) if device.type == "cuda" else 0,
            out_dir=Path(cfg.out_dir) if cfg.out_dir is not None else None, rank=info.rank,
            world_size=info.world_size,
        )
        self.system.eval()
        if done >= total and info.is_main:
            if cfg.eval.enabled:
                result.metrics = self.evaluate()
                result.scores = self.scores
            self._write_outputs(result)
        barrier(info)
        return result

    # ------------------------------------------------------------------------------------- evaluation
    def evaluate(self) -> dict:
        """Score the trained features against the exact truth (:func:`synergy_lab.evaluate.score_run_data`).

        Fair and paper probes, bits captured and read-out PID per target, fitted on the probe pairs; the
        reported split is the test pairs (Trifeature) or the held-out draw (vector data), and probe costs are
        chosen on the validation pairs or, without them, on a seeded part carved out of the probe pairs.
        The tidy rows are kept in ``self.scores`` (written to ``metrics.json``); returns them per target
        (:func:`synergy_lab.evaluate.metrics_by_target`): ``balanced_accuracy``, ``chance``, ``n_classes``,
        ``balanced_accuracy_paper``, ``bits``..., ``truth_<metric>``, and ``val_balanced_accuracy`` where the
        data has a validation split.
        """
        from ..evaluate.features import extract_features
        from ..evaluate.run_scores import score_run_data
        from ..evaluate.score import metrics_by_target

        cfg = self.config

        def featurise(pairs):
            return extract_features(self.system, pairs, cfg.eval.batch_size, self.device)

        self.scores = score_run_data(featurise, self.data, targets=cfg.eval.targets, random_state=cfg.seed,
                                     max_iter=cfg.eval.max_iter)
        return metrics_by_target(self.scores)

    def _write_outputs(self, result: TrainResult) -> None:
        out = self.config.out_dir
        if out is None:
            return
        cfg = self.config
        rows = ["step,epoch,loss,lr"] + [f"{h['step']},{h['epoch']},{h['loss']!r},{h['lr']!r}"
                                         for h in result.history]
        atomic_write_text(Path(out) / "history.csv", "\n".join(rows) + "\n")
        # Tidy score rows, ready for experiments.results.append_results (NaN -> null: strict JSON).
        run = {"method": cfg.method.name, "dataset": cfg.data.name, "seed": cfg.seed, "steps": result.steps}
        scores = [{**run, **{k: None if isinstance(v, float) and not math.isfinite(v) else v
                             for k, v in row.items()}}
                  for row in getattr(self, "scores", [])] if result.metrics else []
        atomic_write_json({"method": cfg.method.name, "steps": result.steps,
                           "final_loss": result.history[-1]["loss"] if result.history else None,
                           "samples_per_s": result.samples_per_s, "wall_s": result.wall_s,
                           "peak_memory_bytes": result.peak_memory_bytes, "probes": result.metrics,
                           "scores": scores},
                          Path(out) / "metrics.json")

def train(config, *, resume: bool = True, stop_after: int | None = None,
          on_step: Callable[[int, dict], None] | None = None) -> TrainResult:
    """Train the method a config describes, then score it (``synergy_lab.train(config)``).

    Parameters
    ----------
    config : TrainConfig, dict or path to a TOML file
    resume : bool, default True
        Continue from the latest checkpoint in ``config.out_dir`` if there is one (its config must match
        in every field but output, logging, device and eval). False starts over (and overwrites).
    stop_after : int, optional
        Stop after this many steps in total (checkpointed, not scored), e.g. to split a run into jobs.
    on_step : callable, optional
        ``on_step(step, record)`` for every history record, as the records are read back from the device.

    Returns
    -------
    TrainResult

    Under ``torchrun --nproc_per_node=N`` every process calls this; ranks join the process group from the
    environment (nccl on CUDA, gloo on CPU), share the global batch ``optim.batch_size`` and only rank 0
    writes files and scores the representation.
    """
    return Trainer(config).fit(resume=resume, stop_after=stop_after, on_step=on_step)
