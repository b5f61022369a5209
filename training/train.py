"""The training loop: seeded, resumable, early-stopped on dev, logged per epoch.

State is saved every `checkpoint_steps` optimizer steps and at each epoch end; a rerun
of the same command with the same config resumes where the last run stopped (the batch
order of an epoch depends only on the seed and the epoch, so resuming skips exactly the
batches already done).
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from serving.engine import Engine
from serving.tokenizer import Tokenizer
from training import specialist, teacher
from training.artifact_weights import load_start
from training.backend import TorchBackend
from training.batching import budget_batches, collate
from training.checkpoint import load_state, save_model, save_state
from training.config import CORRECTIONS, Config
from training.corpus.build import convert_all
from training.corpus.jsonlines import read_records
from training.corpus.record import Record, Split
from training.corpus.sources import data_dir as locate_data
from training.corpus.weapon_lexicon import with_weapons
from training.features import Features, featurize
from training.model import MultiTaskModel, encoder_dir, load_weights, multitask_loss
from training.packing import pack

CHECKPOINT_STEPS = 200
# Dev records -> (figures per collection, the sigmoid heads' thresholds tuned on them).
Evaluator = Callable[
    [Engine, dict[str, list[Record]]], tuple[dict[str, dict[str, float]], dict[str, float]]
]


@dataclass
class TrainResult:
    model_dir: Path
    best_score: float
    epochs_run: int
    seconds: float
    stopped_early: bool


def load_tokenizer(config: Config) -> Tokenizer:
    """The encoder's own tokenizer.json; slow-tokenizer folders are converted once."""
    folder = (
        Path(config.model.encoder)
        if config.model.random_init
        else encoder_dir(config.model.encoder)
    )
    path = folder / "tokenizer.json"
    if path.is_file():
        return Tokenizer.from_file(path)
    from transformers import AutoTokenizer

    fast = AutoTokenizer.from_pretrained(folder)
    return Tokenizer(fast.backend_tokenizer)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def bf16_supported() -> bool:
    """bf16 autocast only pays on CPUs with native bf16 (AVX512-BF16 or AMX)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def epoch_sample(
    records: dict[str, list[Record]], config: Config, epoch: int
) -> list[tuple[Record, int | None]]:
    """This epoch's training records (with their window caps), drawn with the seed.

    `weight` scales how many records a collection contributes (above 1: repeats), and
    `max_records` caps it; both are redrawn every epoch so capped data is seen over time.
    """
    rng = np.random.default_rng([config.training.seed, epoch, 1])
    chosen: list[tuple[Record, int | None]] = []
    for name, spec in config.data.train.items():
        pool = records[name]
        n = round(len(pool) * spec.weight)
        if spec.max_records is not None:
            n = min(n, spec.max_records)
        idx: list[int] = (
            rng.choice(len(pool), size=n, replace=n > len(pool)).tolist() if pool else []
        )
        chosen += [(pool[int(i)], spec.max_windows) for i in idx]
    return chosen


def _from_files(record: Record, patterns: list[str]) -> bool:
    name = Path(record.source.file).name
    return any(fnmatch(name, p) for p in patterns)


def load_records(config: Config) -> dict[str, dict[str, list[Record]]]:
    """{split: {collection: records}} for the train and dev collections of the config."""
    names = set(config.data.train) | set(config.data.dev)
    built_in = sorted(names - {CORRECTIONS})
    records = (
        convert_all(locate_data(config.data.data_dir), only=built_in).records if built_in else []
    )
    if CORRECTIONS in names and config.data.corrections is not None:
        records = [*records, *read_corrections_folder(Path(config.data.corrections))]
    out: dict[str, dict[str, list[Record]]] = {s.value: {n: [] for n in names} for s in Split}
    kept = {n: spec.files for n, spec in config.data.train.items() if spec.files is not None}
    for r in records:
        if r.collection in kept and not _from_files(r, kept[r.collection]):
            continue
        out[r.split.value][r.collection].append(r)
    empty = [n for n in config.data.train if not out["train"][n]]
    if empty:
        raise ValueError(f"collections {empty} have no training records")
    no_dev = [n for n in config.data.dev if not out["dev"][n]]
    if no_dev:
        raise ValueError(f"data.dev names collections without dev records: {no_dev}")
    for name, spec in config.data.train.items():
        if spec.weapon_lexicon:
            out["train"][name] = [with_weapons(r) for r in out["train"][name]]
        if spec.pack_chars is not None:
            out["train"][name] += pack(out["train"][name], spec.pack_chars)
    cap = config.data.dev_max_records
    if cap is not None:
        # A fixed sample: the same dev records every epoch and every run.
        for name, recs in out["dev"].items():
            keep = sorted(recs, key=lambda r: hashlib.sha256(r.id.encode()).hexdigest())[:cap]
            out["dev"][name] = sorted(keep, key=lambda r: r.id)
    return out


def read_corrections_folder(folder: Path) -> list[Record]:
    """The users' records `conflict-tagger retrain` keeps: folder/train.jsonl and dev.jsonl."""
    files = [folder / f"{split.value}.jsonl" for split in (Split.TRAIN, Split.DEV)]
    if not any(f.is_file() for f in files):
        raise FileNotFoundError(
            f"data.corrections is {folder}, which holds no train.jsonl or dev.jsonl; import "
            "annotations with `conflict-tagger retrain --new FILE`, or remove the setting"
        )
    out: list[Record] = []
    for f in files:
        if f.is_file():
            out += [r for _, r in read_records(f)]
    wrong = [r.id for r in out if r.collection != CORRECTIONS]
    if wrong:
        raise ValueError(
            f"{folder} holds records of another collection than {CORRECTIONS!r}: "
            f"{wrong[:3]}; keep only records made by `conflict-tagger retrain`"
        )
    return out


def data_fingerprint(records: dict[str, dict[str, list[Record]]]) -> str:
    h = hashlib.sha256()
    for split in sorted(records):
        for name in sorted(records[split]):
            for r in records[split][name]:
                h.update(r.model_dump_json().encode())
    return h.hexdigest()


def _optimizer(model: MultiTaskModel, config: Config, total_steps: int) -> tuple[Any, Any]:
    t = config.training
    enc = [p for n, p in model.named_parameters() if n.startswith("encoder.")]
    heads = [p for n, p in model.named_parameters() if not n.startswith("encoder.")]
    # A frozen encoder gets no group; the heads' group stays as it was, so checkpoints of
    # earlier runs still resume.
    groups = [] if t.freeze_encoder else [{"params": enc, "lr": t.lr}]
    opt = torch.optim.AdamW([*groups, {"params": heads, "lr": t.head_lr}],
                            weight_decay=t.weight_decay)  # fmt: skip
    warmup = max(1, int(total_steps * t.warmup_ratio))

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, schedule)


def train(
    config: Config,
    output_dir: Path,
    evaluate: Evaluator,
    *,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> TrainResult:
    """Train (or resume) into `output_dir`; the best model lands in `output_dir/model`."""
    t = config.training
    started = time.perf_counter()
    output_dir.mkdir(parents=True, exist_ok=True)
    if t.threads:
        torch.set_num_threads(t.threads)
    seed_everything(t.seed)
    use_bf16 = t.bf16 == "on" or (t.bf16 == "auto" and bf16_supported())
    state_path = output_dir / "state.pt"
    state = load_state(state_path)
    known = {config.digest(), config.digest(counting_unfrozen=True)}
    if state is not None and state["config_sha256"] not in known:
        raise ValueError(
            f"{output_dir} holds a run with another config (sha256 {state['config_sha256'][:12]}); "
            "use a new output folder, or delete it to start over"
        )
    (output_dir / "config.json").write_text(
        json.dumps(config.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8"
    )
    records = load_records(config)
    fingerprint = data_fingerprint(records)
    tokenizer = load_tokenizer(config)
    encodings: dict[str, Any] = {}
    for name in config.data.train:
        for r, e in zip(
            records["train"][name],
            tokenizer.encode_batch([r.text for r in records["train"][name]]),
            strict=True,
        ):
            encodings[r.id] = e
    train_records = [r for name in config.data.train for r in records["train"][name]]
    soft = _teacher_targets(config, train_records, encodings, log)
    documents = _specialist_targets(config, records, encodings, log)
    mix_weight = config.specialists.weight if config.specialists else 0.0
    rehearsed = (
        specialist.rehearsal_targets(
            config.rehearsal, train_records, encodings, _teacher_engine, log
        )
        if config.rehearsal
        else {}
    )
    model = MultiTaskModel.build(
        config.model.encoder, config.model.dropout, config.model.random_init,
        config.model.attention_dropout,
    )  # fmt: skip
    model.shape.weight.requires_grad_(config.model.word_shapes and not t.freeze_encoder)
    model.encoder.requires_grad_(not t.freeze_encoder)
    if config.model.init_from is not None and state is None:
        load_start(model, Path(config.model.init_from))
        log(f"starting from the weights of {config.model.init_from}")
    per_epoch = _estimate_steps(records, encodings, config)
    total_steps = (
        per_epoch * t.epochs if t.max_steps is None else min(t.max_steps, per_epoch * t.epochs)
    )
    opt, sched = _optimizer(model, config, total_steps)
    epoch, skip, step, best, bad_epochs = 0, 0, 0, float("-inf"), 0
    if state is not None:
        load_weights(model, state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        epoch, skip, step = state["epoch"], state["batches_done"], state["step"]
        best, bad_epochs = state["best"], state["bad_epochs"]
        torch.set_rng_state(state["torch_rng"])
        log(f"resuming from epoch {epoch + 1}, batch {skip}, step {step}")
    stopped_early = False
    settings = config.windows.engine_settings()
    engine = Engine(tokenizer, TorchBackend(model), settings)

    def checkpoint(batches_done: int) -> None:
        save_state(state_path, {
            "config_sha256": config.digest(), "model": model.state_dict(),
            "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "epoch": epoch,
            "batches_done": batches_done, "step": step, "best": best, "bad_epochs": bad_epochs,
            "torch_rng": torch.get_rng_state(),
        })  # fmt: skip

    while epoch < t.epochs and (t.max_steps is None or step < t.max_steps):
        rng = np.random.default_rng([t.seed, epoch, 2])
        size, stride = config.windows.size, config.windows.stride
        pooling = config.windows.document_pooling
        feats = [
            featurize(r, encodings[r.id], size, stride, cap, rng, soft.get(r.id), pooling)
            for r, cap in epoch_sample(records["train"], config, epoch)
        ]
        for item in feats:
            specialist.mix(item, documents.get(item.record_id), mix_weight)
            if config.rehearsal is not None:
                specialist.rehearse(item, rehearsed.get(item.record_id), config.rehearsal.heads)
        batches = budget_batches(feats, t.batch_tokens, rng)
        model.train()
        tokens = examples = 0
        tick = time.perf_counter()
        bar = tqdm(total=len(batches), initial=skip, disable=not progress,
                   desc=f"epoch {epoch + 1}/{t.epochs}", unit="batch")  # fmt: skip
        losses: dict[str, list[float]] = {}
        for b_index in range(skip, len(batches)):
            batch = collate([feats[i] for i in batches[b_index]], tokenizer.prefix,
                            tokenizer.suffix, tokenizer.pad_id)  # fmt: skip
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
                outputs = model(batch.input_ids, batch.attention_mask, batch.shape_ids)
            loss, parts = multitask_loss(
                outputs, batch, t.loss_weights, t.flex_weight, t.unmarked_weight,
                config.teacher.weight if config.teacher else 0.0,
                config.rehearsal.weight if config.rehearsal else 0.0,
            )  # fmt: skip
            scaled: torch.Tensor = loss / t.grad_accum
            scaled.backward()  # type: ignore[no-untyped-call]
            for k, v in parts.items():
                losses.setdefault(k, []).append(v)
            tokens += batch.n_tokens
            examples += len(batches[b_index])
            if (b_index + 1) % t.grad_accum == 0 or b_index + 1 == len(batches):
                torch.nn.utils.clip_grad_norm_(model.parameters(), t.max_grad_norm)
                opt.step()
                sched.step()
                opt.zero_grad()
                step += 1
                if step % CHECKPOINT_STEPS == 0:
                    checkpoint(b_index + 1)
            elapsed = time.perf_counter() - tick
            bar.set_postfix(loss=f"{loss.item():.3f}", ex_s=f"{examples / elapsed:.1f}",
                            tok_s=f"{tokens / elapsed:.0f}")  # fmt: skip
            bar.update(1)
            if t.max_steps is not None and step >= t.max_steps:
                break
        bar.close()
        train_seconds = time.perf_counter() - tick
        scores, thresholds = evaluate(engine, {n: records["dev"][n] for n in config.data.dev})
        score = (
            float(np.mean([scores[n]["main"] for n in config.data.dev])) if config.data.dev else 0.0
        )
        improved = score > best
        if improved:
            best, bad_epochs = score, 0
            save_model(output_dir / "model", model, tokenizer, config, {
                "data_fingerprint": fingerprint, "epoch": epoch + 1, "dev": scores,
                "dev_score": score, "thresholds": thresholds,
            })  # fmt: skip
        else:
            bad_epochs += 1
        entry = {
            "epoch": epoch + 1, "step": step, "train_seconds": round(train_seconds, 1),
            "train_tokens_per_s": round(tokens / max(train_seconds, 1e-9)),
            "train_examples_per_s": round(examples / max(train_seconds, 1e-9), 2),
            "loss": {k: round(float(np.mean(v)), 4) for k, v in losses.items()},
            "dev": scores, "dev_score": round(score, 4), "thresholds": thresholds,
            "best": improved,
        }  # fmt: skip
        with (output_dir / "metrics.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")
        log(f"epoch {epoch + 1}: dev score {score:.4f}{' (best)' if improved else ''}")
        epoch, skip = epoch + 1, 0
        checkpoint(0)
        if bad_epochs >= t.patience:
            stopped_early = True
            log(f"no dev improvement for {bad_epochs} epochs: stopping")
            break
    result = TrainResult(
        output_dir / "model", best, epoch, time.perf_counter() - started, stopped_early
    )
    summary = {"best_dev_score": best, "epochs_run": epoch, "stopped_early": stopped_early,
               "seconds_this_run": round(result.seconds, 1)}  # fmt: skip
    (output_dir / "finished.json").write_text(json.dumps(summary, indent=2) + "\n", "utf-8")
    return result


def _teacher_targets(
    config: Config, train_records: list[Record], encodings: dict[str, Any],
    log: Callable[[str], None],
) -> teacher.SoftTargets:  # fmt: skip
    """The teacher's soft targets for every training record; none without a teacher."""
    if config.teacher is None:
        return {}
    return teacher.soft_targets(
        Path(config.teacher.model), train_records, encodings, config.teacher.heads,
        Path(config.teacher.cache), _teacher_engine, log,
    )  # fmt: skip


def _specialist_targets(
    config: Config, records: dict[str, dict[str, list[Record]]], encodings: dict[str, Any],
    log: Callable[[str], None],
) -> teacher.SoftTargets:  # fmt: skip
    """The specialists' document probabilities for their collections' records."""
    if config.specialists is None:
        return {}
    return specialist.document_targets(
        config.specialists, records["train"], encodings, _teacher_engine, log
    )


def _teacher_engine(folder: Path) -> Engine:
    """A trained model folder read through torch, or an exported artifact's fp32 graph."""
    from training.evaluate import load_engine

    return load_engine(folder, "torch" if (folder / "weights.pt").is_file() else "fp32")[0]


def _estimate_steps(
    records: dict[str, dict[str, list[Record]]], encodings: dict[str, Any], config: Config
) -> int:
    feats: list[Features] = [
        featurize(r, encodings[r.id], config.windows.size, config.windows.stride, cap)
        for r, cap in epoch_sample(records["train"], config, 0)
    ]
    n = len(budget_batches(feats, config.training.batch_tokens, None))
    return max(1, -(-n // config.training.grad_accum))
