"""The Trainer: ``Trainer(model, task, config).fit(train_ds, val_ds) -> History``.

What it guarantees:

- **Deterministic for a seed.** Every epoch draws its shuffling/augmentation generator, its
  dropout seed and its mixup/CutMix generator (``config.mix``) from ``(config.seed, epoch)``
  (numpy ``SeedSequence``, one stream each). Dropout uses the global
  torch RNG, so the whole fit runs inside ``torch.random.fork_rng()``: the caller's global RNG
  state is the same after ``fit`` as before. Same seed, same data -> identical weights on CPU.
- **Best weights.** After each epoch the monitored validation metric is compared with the best
  so far; a new best is *copied* (cloned tensors). When ``fit`` returns, the model holds the best
  epoch's weights (``History.best_epoch`` says which) and is in eval mode.
- **Resume.** With ``out_dir``, a checkpoint (live weights, best weights, optimizer state,
  history) is written atomically after every epoch (see :mod:`.checkpoint`). Because randomness
  and the learning rate are functions of (seed, epoch, step), ``fit(..., resume=True)`` continues
  bit-exactly where the checkpoint stopped.
- **Data-parallel.** Inside a ``torch.distributed`` group of several processes (``torchrun`` or
  ``healthcnn train --nproc N``), the model trains under DDP on this rank's piece of every global
  batch, validation predictions are gathered from all ranks, and only rank 0 writes checkpoints
  and logs (see :mod:`.distributed`).
- **Any data.** ``fit`` takes the in-memory :class:`~healthcnn.data.ArrayDataset` (its fast
  path: one tensor indexed per batch), any map-style ``torch.utils.data.Dataset`` of ``(input,
  label)`` samples (read through a ``DataLoader`` with ``num_workers`` processes and the same
  seeded batches as the fast path: same seed, same samples -> the same numbers), an
  ``IterableDataset`` (in its own order) or a ``DataLoader`` (its own batches; its generator is
  reseeded every epoch). See :mod:`healthcnn.data.loaders`.
- **Ctrl-C** raises :class:`TrainingInterrupted` naming the checkpoint of the last completed
  epoch; a NaN/inf loss raises :class:`TrainingError` (epoch, batch) before the optimiser step,
  leaving the last good checkpoint intact.
"""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader

from .._json import dumps
from .._progress import Progress
from ..data.arrays import ArrayDataset, BatchTransform, iterate_batches
from ..data.loaders import DataSource, dataset_labels, describe, loader_batches
from ..inference.precision import PrecisionPolicy, model_spatial_dims
from ..inference.predict import infer_logits
from ..metrics.classification import METRICS
from ..tasks import Task
from . import distributed
from .callbacks import Callback, CallbackList
from .checkpoint import CHECKPOINT_JSON, atomic_write_bytes, load_checkpoint, save_checkpoint
from .config import RESUMABLE_CHANGES, TrainConfig
from .feeding import check_weighting, start_loader_epoch, training_loader
from .history import EpochRecord, History, TrainingError, TrainingInterrupted
from .mixing import mix_batch
from .optim import build_optimizer, lr_at, parameter_groups, set_lr

LOG_JSONL = "log.jsonl"

# stream ids for the per-epoch seeds
_SHUFFLE, _DROPOUT, _LOADER, _MIX = 0, 1, 2, 3

logger = logging.getLogger(__name__)


def derive_seed(seed: int, epoch: int, stream: int) -> int:
    """A 63-bit seed for (``seed``, 0-based ``epoch``, ``stream``): independent streams, no
    arithmetic collisions such as seed + epoch."""
    state = np.random.SeedSequence([seed, epoch, stream]).generate_state(1, dtype=np.uint64)
    return int(state[0] & np.uint64(2**63 - 1))


def _clone_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def training_precision(precision: str, model: nn.Module, device: torch.device) -> str:
    """The precision training actually uses: ``"auto"`` means fp32 for 3D models on a CPU.

    bfloat16 autocast training of the 3D ResNet-18 on AdrenalMNIST3D (32^3, CPU with
    AVX512-BF16) reached a NaN loss in 2 of 3 seeds, where fp32 trained cleanly
    (docs/results-3d.md), so ``auto`` does not pick bf16 there; ``precision="bf16"`` still does.
    A model is 3D when it says so (``spatial_dims``) or, for a user's own network without that
    attribute, when all its convolutions are 3D.
    """
    if precision == "auto" and device.type == "cpu" and model_spatial_dims(model) == 3:
        return "fp32"
    return precision


class Trainer:
    """Train ``model`` on a :class:`~healthcnn.tasks.Task` with a :class:`TrainConfig`.

    Args:
        model: returns logits of shape ``(N, task.num_outputs)``; models with
            ``forward_with_aux`` (and ``aux_logits`` on) add ``config.aux_weight`` x each
            auxiliary loss during training.
        task: what the labels mean (loss, probabilities, metrics, label map).
        config: hyper-parameters (default ``TrainConfig()``).
        out_dir: where ``checkpoint.json``/``.safetensors`` and ``log.jsonl`` go (None: nowhere;
            then nothing is resumable).
        checkpoint_every: with ``out_dir``, seconds of training between checkpoints (0: after
            every epoch); the last epoch is always checkpointed. A checkpoint of a ResNet-18
            with its optimiser state is about 180 MB, so where epochs take a second or two (a
            GPU, small images) a minute between them keeps the writing from costing more than
            the training, and an interruption loses at most that minute (or one epoch).
        transform: training batch transform ``transform(x, generator=g)`` (augmentation).
        eval_transform: evaluation batch transform (deterministic, e.g. normalisation).
        device: ``"cpu"`` or ``"cuda"``.
        callbacks: :class:`~.callbacks.Callback` instances.
        progress: show a per-epoch progress bar on stderr (None: on, summary line when not a
            terminal; False: silent).
        num_workers: worker processes reading a ``Dataset`` that is not an ``ArrayDataset``
            (0: in this process); ``pin_memory``: page-locked batches for a GPU.
    """

    def __init__(
        self,
        model: nn.Module,
        task: Task,
        config: TrainConfig | None = None,
        out_dir: str | Path | None = None,
        transform: BatchTransform | None = None,
        eval_transform: BatchTransform | None = None,
        device: str | torch.device = "cpu",
        *,
        callbacks: list[Callback] | tuple[Callback, ...] = (),
        progress: bool | None = None,
        num_workers: int = 0,
        pin_memory: bool = False,
        checkpoint_every: float = 0.0,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if not isinstance(task, Task):
            raise TypeError(f"task must be a healthcnn.tasks.Task, got {type(task).__name__}")
        self.model = model
        self.task = task
        self.config = config if config is not None else TrainConfig()
        if not isinstance(self.config, TrainConfig):
            raise TypeError(f"config must be a TrainConfig, got {type(self.config).__name__}")
        self.out_dir = None if out_dir is None else Path(out_dir)
        if not checkpoint_every >= 0:  # also refuses NaN
            raise ValueError(f"checkpoint_every must be seconds >= 0, got {checkpoint_every}")
        self.checkpoint_every = float(checkpoint_every)
        self._last_save = 0.0
        self.transform = transform
        self.eval_transform = eval_transform
        self.device = torch.device(device)
        self.callbacks = CallbackList(callbacks)
        self.progress = progress
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.policy = PrecisionPolicy.resolve(
            training_precision(self.config.precision, model, self.device), self.device
        )
        self.history: History | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self._saved_epochs = 0
        self._dist: distributed.DistContext | None = None
        self._ddp: nn.Module | None = None
        self._val_shard: ArrayDataset | None = None
        self._loader: DataLoader | None = None
        self._logit_offset: torch.Tensor | None = None
        self._ema: AveragedModel | None = None

    @property
    def checkpoint_path(self) -> Path | None:
        return None if self.out_dir is None else self.out_dir / CHECKPOINT_JSON

    # -- checks ---------------------------------------------------------------------------------
    def _check_setup(self, train_ds: DataSource, val_ds: DataSource) -> torch.Tensor | None:
        """Check the data against the model and task; the encoded training labels when the
        data has them up front (else None: each batch is checked as it comes)."""
        cfg, task, model = self.config, self.task, self.model
        for split, ds in (("training", train_ds), ("validation", val_ds)):
            info = describe(ds, split)
            shape = (info.in_channels, *info.spatial_shape)
            dims = getattr(model, "spatial_dims", None)
            if isinstance(dims, int) and info.spatial_dims != dims:
                raise ValueError(
                    f"the model takes spatial_dims={dims} but the {split} data has "
                    f"{info.spatial_dims} spatial axes (samples of shape {shape})"
                )
            chans = getattr(model, "in_channels", None)
            if isinstance(chans, int) and info.in_channels != chans:
                raise ValueError(
                    f"the model takes in_channels={chans} but the {split} data has "
                    f"{info.in_channels}; build the model with in_channels={info.in_channels}"
                )
        outputs = getattr(model, "num_classes", None)
        if isinstance(outputs, int) and outputs != task.num_outputs:
            raise ValueError(
                f"the {task.kind} task with classes {list(task.classes)} needs "
                f"{task.num_outputs} output(s) but the model has num_classes={outputs}; build it "
                f"with num_classes={task.num_outputs}"
            )
        if cfg.monitor != "loss" and cfg.monitor not in task.default_metrics:
            raise ValueError(
                f"monitor={cfg.monitor!r} is not computed for this task; choose 'loss' or one of "
                f"{list(task.default_metrics)}"
            )
        labels, targets = dataset_labels(train_ds), None
        if labels is not None:
            targets = task.encode_labels(labels)
            task.check_labels(targets, "training")
        else:
            check_weighting(self.config, train_ds)
        val_labels = dataset_labels(val_ds)
        if val_labels is not None:
            task.class_counts(task.encode_labels(val_labels))  # range check only
        return targets

    # -- the loop -------------------------------------------------------------------------------
    def fit(self, train_ds: DataSource, val_ds: DataSource, *, resume: bool = False) -> History:
        """Train, validating after every epoch; returns the :class:`History`.

        ``resume=True`` continues from ``out_dir/checkpoint.json`` (the same config is required,
        except ``epochs`` and ``early_stopping_patience``, which may be changed to extend a run).
        """
        cfg, task, model = self.config, self.task, self.model
        targets = self._check_setup(train_ds, val_ds)
        class_weights = None
        if targets is not None and cfg.class_weights == "balanced":
            class_weights = task.balanced_class_weights(targets).to(self.device)
        sample_weights = None
        if targets is not None and cfg.sampling == "balanced":
            sample_weights = task.balanced_sample_weights(targets)
        self._logit_offset = None
        if targets is not None and cfg.logit_adjust:
            offset = cfg.logit_adjust * task.prior_log_odds(targets)
            self._logit_offset = offset.to(self.device)

        model.to(self.device)
        self.policy.prepare_model(model)
        self._ema = None
        if cfg.ema_decay is not None:
            # torch's own weight averaging; buffers (batch-norm statistics) are averaged too
            self._ema = AveragedModel(
                model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay), use_buffers=True
            )
        self._setup_distributed(train_ds, val_ds)
        self._loader = training_loader(
            train_ds,
            self.config,
            sample_weights=sample_weights,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
        )
        is_main = self._dist is None or self._dist.is_main
        optimizer = build_optimizer(parameter_groups(model, cfg), cfg)
        self.optimizer = optimizer
        history = History(monitor=cfg.monitor, mode=cfg.mode)
        self.best_state = None
        self._saved_epochs = 0
        self._last_save = time.monotonic()  # the interval between checkpoints starts now
        start = 0
        if resume:
            if self.out_dir is None:
                raise ValueError("resume=True needs the out_dir the interrupted run wrote to")
            start, history = self._restore(optimizer)
        elif self.out_dir is not None and is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            (self.out_dir / LOG_JSONL).write_text("")
        self.history = history

        # torch.manual_seed also reseeds every CUDA device: fork (and restore) them all
        rng_devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
        self.callbacks.on_fit_start(self)
        with torch.random.fork_rng(devices=rng_devices):
            for epoch in range(start, cfg.epochs):
                if self._should_stop(history):
                    break
                try:
                    record = self._run_epoch(
                        epoch, train_ds, val_ds, targets, class_weights, sample_weights
                    )
                    logger.debug("epoch %d: %s", record.epoch, record.to_dict())
                    if history.add(record):
                        self.best_state = _clone_state(self._evaluated())
                    history.stopped_early = self._should_stop(history)
                    last = epoch + 1 == cfg.epochs or history.stopped_early
                    if last or time.monotonic() - self._last_save >= self.checkpoint_every:
                        self._save(epoch + 1, history)
                    self.callbacks.on_epoch_end(self, record)
                except KeyboardInterrupt:
                    saved = self._saved_epochs
                    ckpt = self.checkpoint_path if saved else None
                    done = saved if self.out_dir is not None else len(history.epochs)
                    raise TrainingInterrupted(epochs_completed=done, checkpoint=ckpt) from None

        if self.best_state is not None:
            model.load_state_dict(self.best_state)
        else:
            warnings.warn(
                f"the monitored value {cfg.monitor!r} was never a number; the model keeps the "
                f"last epoch's weights",
                RuntimeWarning,
                stacklevel=2,
            )
        model.eval()
        self.callbacks.on_fit_end(self, history)
        return history

    def _setup_distributed(self, train_ds: DataSource, val_ds: DataSource) -> None:
        """Wrap the model in DDP and shard the validation set when in a process group."""
        ctx = self._dist = distributed.current()
        self._ddp, self._val_shard = None, None
        if ctx is None:
            return
        if not (isinstance(train_ds, ArrayDataset) and isinstance(val_ds, ArrayDataset)):
            raise ValueError(
                "data-parallel training (several processes) takes in-memory ArrayDatasets; "
                f"got {type(train_ds).__name__} and {type(val_ds).__name__}: train in one process"
            )
        if self.config.batch_size < ctx.world_size:
            raise ValueError(
                f"batch_size {self.config.batch_size} is the global batch; it must be at least "
                f"the number of processes ({ctx.world_size})"
            )
        model = self.model
        with_aux = bool(getattr(model, "aux_logits", False))
        use_aux = self._use_aux()
        module = _AuxForward(model) if use_aux else model
        ids = [self.device.index] if self.device.type == "cuda" else None
        # a model with auxiliary heads that are not used leaves their parameters without grads
        self._ddp = nn.parallel.DistributedDataParallel(
            module, device_ids=ids, find_unused_parameters=with_aux and not use_aux
        )
        self._val_shard = val_ds.subset(range(ctx.rank, len(val_ds), ctx.world_size))

    def _use_aux(self) -> bool:
        return (
            self.config.aux_weight > 0
            and hasattr(self.model, "forward_with_aux")
            and bool(getattr(self.model, "aux_logits", True))
        )

    def _defer_loss_reads(self) -> bool:
        """Read each step's loss one step late: on a GPU, reading it at once (``float``) waits
        for the step to finish, so the device idles while the next step is prepared and
        queued; read late, the next step is already queued. One process only (data-parallel
        ranks sum their losses every step) and only when no callback has ``on_batch_end``
        (which must see the model right after its step). A non-finite loss then stops
        training one step later than it would otherwise, naming the same epoch and batch; the
        weights left in the model are past that step (the checkpoints and the best weights are
        not)."""
        return (
            self.device.type == "cuda"
            and self._dist is None
            and not self.callbacks.wants_batch_end()
        )

    def _should_stop(self, history: History) -> bool:
        patience = self.config.early_stopping_patience
        return bool(patience and history.epochs and history.epochs_since_best() >= patience)

    def _run_epoch(
        self,
        epoch: int,
        train_ds: DataSource,
        val_ds: DataSource,
        targets: torch.Tensor | None,
        class_weights: torch.Tensor | None,
        sample_weights: torch.Tensor | None,
    ) -> EpochRecord:
        cfg, task, model, optimizer = self.config, self.task, self.model, self.optimizer
        ctx = self._dist
        use_aux = self._use_aux()
        self.callbacks.on_epoch_start(self, epoch + 1)
        # seeded after the callbacks, so nothing they draw can shift this epoch's randomness
        generator = torch.Generator().manual_seed(derive_seed(cfg.seed, epoch, _SHUFFLE))
        torch.manual_seed(derive_seed(cfg.seed, epoch, _DROPOUT))
        steps, drop_last = self._epoch_plan(epoch, train_ds, generator, sample_weights)
        mix_rng = np.random.default_rng(derive_seed(cfg.seed, epoch, _MIX))
        show = self.progress if ctx is None or ctx.is_main else False
        bar = Progress(steps, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch", enabled=show)
        t0 = time.perf_counter()
        model.train()
        total, seen, lr = 0.0, 0, cfg.lr
        defer = self._defer_loss_reads()
        pending: tuple[int, torch.Tensor, int] | None = None

        def account(step: int, value: float, count: int) -> None:
            nonlocal total, seen
            total += value * count
            seen += count
            bar.update(1, loss=total / seen)
            self.callbacks.on_batch_end(self, epoch + 1, step + 1, value)

        def settle(step: int, loss: torch.Tensor, count: int) -> None:
            """Read a deferred step's loss (the device has the next step queued by now)."""
            value = float(loss)
            if not np.isfinite(value):
                raise self._nan_error(epoch + 1, step + 1, value)
            account(step, value, count)

        try:
            batches = self._batches(train_ds, generator, sample_weights, drop_last)
            for step, (x, y, n_global) in enumerate(batches):
                lr = lr_at(cfg, epoch, step, steps or 1)
                set_lr(optimizer, lr, epoch)
                y = task.encode_labels(y)
                if targets is None:
                    task.class_counts(y)  # labels not known up front: range-check each batch
                mixed = None
                if cfg.mix != "none":
                    x, partner, lam = mix_batch(x, cfg.mix, cfg.mix_alpha, mix_rng)
                    mixed = (partner, lam)
                loss = self._loss(x, y, class_weights, use_aux, mixed)
                value: float | None
                if defer:
                    value, count = None, len(y)  # read once the next step is queued
                elif ctx is None:
                    value, count = float(loss.detach()), len(y)
                else:
                    # this rank's share of the global mean (uneven pieces included); the loss
                    # sum and count over all ranks also make every rank see a NaN together
                    loss = loss * (ctx.world_size * len(y) / n_global)
                    local = torch.tensor([float(loss.detach()) * n_global / ctx.world_size, len(y)])
                    summed = distributed.all_sum(local.double(), ctx)
                    value, count = float(summed[0] / summed[1]), int(summed[1])
                if value is not None and not np.isfinite(value):
                    raise self._nan_error(epoch + 1, step + 1, value)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.max_grad_norm is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
                optimizer.step()
                if self._ema is not None:
                    self._ema.update_parameters(model)
                if value is not None:
                    account(step, value, count)
                    continue
                if pending is not None:
                    settle(*pending)
                pending = (step, loss.detach(), count)
            if pending is not None:
                settle(*pending)
            if self.device.type == "cuda":  # the last step's queued kernels belong to this time
                torch.cuda.synchronize(self.device)
            train_seconds = time.perf_counter() - t0
            val_loss, metrics = self._validate(val_ds)
            bar.postfix.update({"val_loss": val_loss})
            bar.postfix.update({f"val_{k}": v for k, v in metrics.items()})
        finally:
            bar.close()
        return EpochRecord(
            epoch=epoch + 1,
            train_loss=total / max(seen, 1),
            val_loss=val_loss,
            val_metrics=metrics,
            lr=lr,
            seconds=time.perf_counter() - t0,
            images_per_second=seen / train_seconds if train_seconds > 0 else float("nan"),
        )

    def _epoch_plan(
        self,
        epoch: int,
        train_ds: DataSource,
        generator: torch.Generator,
        sample_weights: torch.Tensor | None,
    ) -> tuple[int | None, bool]:
        """``(steps, drop_last)`` of this epoch (steps None: unknown), and the epoch's seeds
        handed to the DataLoader path."""
        cfg, ctx = self.config, self._dist
        if self._loader is None:
            # a last batch of one sample breaks batch norm in training mode, and one smaller
            # than the number of processes would leave a rank without data: drop it
            world = ctx.world_size if ctx else 1
            return distributed.epoch_steps(len(train_ds), cfg.batch_size, world)
        loader_seed = derive_seed(cfg.seed, epoch, _LOADER)
        return start_loader_epoch(self._loader, cfg, generator, sample_weights, loader_seed)

    def _batches(
        self,
        train_ds: DataSource,
        generator: torch.Generator,
        sample_weights: torch.Tensor | None,
        drop_last: bool,
    ) -> Any:
        """``(x, y, global batch size)`` for this process: the whole batch, or under DDP this
        rank's piece of it."""
        kwargs = {
            "generator": generator,
            "transform": self.transform,
            "sample_weights": sample_weights,
            "drop_last": drop_last,
            "device": self.device,
            "channels_last": self.policy.channels_last,
        }
        bs = self.config.batch_size
        if self._loader is not None:
            channels_last = self.policy.channels_last
            for x, y in loader_batches(
                self._loader, self.device, self.transform, generator, channels_last
            ):
                yield x, y, len(y)
            return
        if self._dist is not None:
            for x, y, _, n_global in distributed.shard_batches(train_ds, bs, self._dist, **kwargs):
                yield x, y, n_global
            return
        for x, y, _ in iterate_batches(train_ds, bs, shuffle=True, **kwargs):
            yield x, y, len(y)

    def _loss(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        class_weights: torch.Tensor | None,
        use_aux: bool,
        mixed: tuple[torch.Tensor, float] | None = None,
    ) -> torch.Tensor:
        """The training loss of batch ``(x, y)``; with ``mixed = (partner, lam)`` (a mixed
        batch) ``lam * loss(y) + (1 - lam) * loss(y[partner])``."""
        aux: Any = ()
        with self.policy.autocast():
            if self._ddp is not None:
                out = self._ddp(x)
                logits, aux = out if use_aux else (out, ())
            elif use_aux:
                logits, aux = self.model.forward_with_aux(x)
            else:
                logits = self.model(x)

        def loss_of(z: torch.Tensor) -> torch.Tensor:
            z = self._adjusted(z)
            if mixed is None:
                return self.task.loss(z, y, class_weights)
            partner, lam = mixed
            return lam * self.task.loss(z, y, class_weights) + (1 - lam) * self.task.loss(
                z, y[partner], class_weights
            )

        loss = loss_of(logits)
        if isinstance(aux, torch.Tensor):
            aux = (aux,)
        for a in aux or ():
            loss = loss + self.config.aux_weight * loss_of(a)
        return loss

    def _adjusted(self, logits: torch.Tensor) -> torch.Tensor:
        """Float logits, plus the logit adjustment's prior offset when one is configured (the
        training loss only: validation and predictions use the plain logits)."""
        logits = logits.float()
        return logits if self._logit_offset is None else logits + self._logit_offset

    def _evaluated(self) -> nn.Module:
        """The weights that are validated and kept: the running average when there is one."""
        return self.model if self._ema is None else self._ema.module

    def _validate(self, val_ds: DataSource) -> tuple[float, dict[str, float]]:
        ctx = self._dist
        logits, labels = infer_logits(
            self._evaluated(),
            val_ds if ctx is None else self._val_shard,
            batch_size=self.config.effective_eval_batch_size,
            policy=self.policy,
            device=self.device,
            transform=self.eval_transform,
            num_workers=self.num_workers,
        )
        if ctx is not None:
            # every rank predicted a strided shard: gather and score the whole set on each
            logits = distributed.gather_in_order(logits, ctx, len(val_ds))
            labels = val_ds.labels
        targets = self.task.encode_labels(labels)
        loss = float(self.task.loss(logits, targets.to(logits.device)))
        scores = self.task.probabilities(logits).numpy()
        with warnings.catch_warnings():
            # a small validation split may lack a class; the metric then says NaN or averages
            # over what is there; one warning per epoch would only be noise
            warnings.simplefilter("ignore")
            metrics = default_metrics(self.task, targets.cpu().numpy(), scores)
        return loss, metrics

    def _nan_error(self, epoch: int, batch: int, value: float) -> TrainingError:
        ckpt = self.checkpoint_path if self._saved_epochs else None
        where = f"the last good checkpoint is {ckpt}" if ckpt else "no checkpoint was written"
        return TrainingError(
            f"the training loss became {value} at epoch {epoch}, batch {batch}; {where}. "
            f"Try a lower lr, max_grad_norm, or precision='fp32'",
            epoch=epoch,
            batch=batch,
            checkpoint=ckpt,
        )

    # -- persistence ----------------------------------------------------------------------------
    def _save(self, epochs_done: int, history: History) -> None:
        if self.out_dir is None:
            return
        if self._dist is not None and not self._dist.is_main:
            self._saved_epochs = epochs_done  # rank 0 writes the checkpoint
            self._last_save = time.monotonic()
            return
        cfg = self.config
        save_checkpoint(
            self.out_dir,
            epoch=epochs_done,
            model_state=self.model.state_dict(),
            optimizer_state=self.optimizer.state_dict(),
            best_state=self.best_state,
            ema_state=None if self._ema is None else self._ema.state_dict(),
            info={
                "config": cfg.to_dict(),
                "task": self.task.to_dict(),
                "precision": self.policy.name,
                "schedule": {"name": cfg.schedule, "next_epoch": epochs_done},
                "rng": {"scheme": "SeedSequence(seed, epoch, stream)", "seed": cfg.seed},
                "history": history.to_dict(),
            },
        )
        new = history.epochs[self._saved_epochs : epochs_done]  # since the last checkpoint
        self._saved_epochs = epochs_done
        self._last_save = time.monotonic()
        with open(self.out_dir / LOG_JSONL, "a") as log:
            log.write("".join(dumps(r.to_dict()) + "\n" for r in new))

    def _restore(self, optimizer: torch.optim.Optimizer) -> tuple[int, History]:
        ckpt = load_checkpoint(self.out_dir)
        saved = TrainConfig.from_dict(ckpt.info["config"])
        # the numerics the run began with: "auto" picks bf16 or fp32 by the CPU's flags, so a
        # run resumed on another machine could change them half-way through
        saved_precision = ckpt.info.get("precision")
        if saved_precision is not None and saved_precision != self.policy.name:
            raise ValueError(
                f"cannot resume: the checkpoint trained in {saved_precision}, and precision="
                f"{self.config.precision!r} is {self.policy.name} on this machine; resume "
                f"with precision={saved_precision!r} to go on as the run began"
            )
        # a changed precision setting that gives the same numerics ("auto" -> what it chose)
        same_numerics = ("precision",) if saved_precision is not None else ()
        diffs = {
            k: v
            for k, v in saved.differences(self.config).items()
            if k not in RESUMABLE_CHANGES + same_numerics
        }
        if diffs:
            listing = ", ".join(f"{k}: saved {a!r}, now {b!r}" for k, (a, b) in diffs.items())
            raise ValueError(f"cannot resume with a different config ({listing})")
        if ckpt.info["task"] != self.task.to_dict():
            raise ValueError(
                f"cannot resume: the checkpoint was trained for task {ckpt.info['task']}, "
                f"not {self.task.to_dict()}"
            )
        try:
            self.model.load_state_dict(ckpt.model_state)
        except RuntimeError as exc:
            raise ValueError(f"the checkpoint does not fit this model: {exc}") from None
        optimizer.load_state_dict(ckpt.optimizer_state)
        _match_state_layout(optimizer)
        if ckpt.best_state is not None:
            self.best_state = {k: v.to(self.device) for k, v in ckpt.best_state.items()}
        if self._ema is not None:
            if ckpt.ema_state is None:
                raise ValueError(
                    f"cannot resume: {self.checkpoint_path} holds no weight average for "
                    f"ema_decay={self.config.ema_decay}; delete it to start over"
                )
            self._ema.load_state_dict(ckpt.ema_state)
        history = History.from_dict(ckpt.info["history"])
        history.stopped_early = self._should_stop(history)
        self._saved_epochs = ckpt.epoch
        if self._dist is None or self._dist.is_main:
            log = "".join(dumps(r.to_dict()) + "\n" for r in history.epochs)
            atomic_write_bytes(self.out_dir / LOG_JSONL, log.encode())
        return ckpt.epoch, history


class _AuxForward(nn.Module):
    """``forward`` = the wrapped model's ``forward_with_aux``, so DDP sees (and syncs) it."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> Any:
        return self.model.forward_with_aux(x)


def _match_state_layout(optimizer: torch.optim.Optimizer) -> None:
    """Give restored optimizer buffers their parameter's memory layout (channels-last), as
    buffers created during training have; the values are unchanged."""
    for group in optimizer.param_groups:
        for p in group["params"]:
            state = optimizer.state.get(p, {})
            for name, value in state.items():
                if isinstance(value, torch.Tensor) and value.shape == p.shape:
                    state[name] = torch.empty_like(p, dtype=value.dtype).copy_(value)


def default_metrics(task: Task, targets: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """The task's default metrics (``task.default_metrics``) of encoded ``targets`` against
    its probabilities ``scores`` (what validation reports and selects the best epoch by)."""
    return {name: float(METRICS[name](targets, scores)) for name in task.default_metrics}
