"""The flags every training script shares (diffusers' example-script names where they exist)."""

from __future__ import annotations

import argparse

from genhub.train.precision import CHOICES


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_training_args(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The flags every training script shares (diffusers' names where they exist)."""
    data = parser.add_argument_group("data")
    data.add_argument("--dataset", default="lfw-subset",
                      help="Hub dataset id, local parquet folder, local image folder, or 'lfw-subset'")
    data.add_argument("--image_column", default=None, help="image column (default: the first image column)")
    data.add_argument("--resolution", type=int, default=64, help="square side in pixels")
    data.add_argument("--random_flip", action="store_true", help="mirror half of each batch left-right")
    data.add_argument("--max_train_samples", type=int, default=None, help="use only the first N training rows")
    data.add_argument("--dataloader_num_workers", type=int, default=0)
    run = parser.add_argument_group("optimisation")
    run.add_argument("--train_batch_size", type=int, default=64, help="per process")
    run.add_argument("--gradient_accumulation_steps", type=int, default=1)
    run.add_argument("--learning_rate", type=float, default=2e-4)
    run.add_argument("--adam_beta1", type=float, default=0.5)
    run.add_argument("--adam_beta2", type=float, default=0.999)
    run.add_argument("--num_epochs", type=int, default=10)
    run.add_argument("--max_train_steps", type=int, default=None, help="overrides --num_epochs")
    run.add_argument("--max_train_minutes", type=float, default=None,
                     help="also stop (and export) once training has run this long: a budget for any machine; "
                          "the step count then depends on the machine's speed")
    run.add_argument("--min_train_images", type=int, default=None,
                     help="the time budget stops a run only once it has seen this many images: what the recipe "
                          "needs, so a slower machine (or one thread of two) still gets there and a faster one "
                          "trains on to its budget")
    run.add_argument("--mixed_precision", choices=CHOICES, default="auto",
                     help="auto (default): bf16 where the device runs it natively (CUDA with bf16; a CPU with "
                          "AVX512_BF16 or AMX), else fp32 on CPU and fp16 on older CUDA")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--use_ema", action=argparse.BooleanOptionalAction, default=True,
                     help="export an exponential moving average of the generator")
    run.add_argument("--ema_decay", type=float, default=0.999)
    speed = parser.add_argument_group("speed (the same model and update rule, only faster or slower)")
    speed.add_argument("--channels_last", action=argparse.BooleanOptionalAction, default=None,
                       help="networks and image batches in channels-last memory order (default: the family's choice, "
                            "measured per family in bench/bench_training.py); exports stay contiguous")
    speed.add_argument("--compile", action="store_true",
                       help="torch.compile the networks (needs a C++ compiler on CPU); the first step's seconds, "
                            "which include the compilation, are printed and saved in training_info.json")
    out = parser.add_argument_group("output")
    out.add_argument("--output_dir", required=True, help="export folder; checkpoints go in checkpoint-N inside")
    out.add_argument("--checkpointing_steps", type=int, default=500)
    out.add_argument("--checkpoints_total_limit", type=int, default=None, help="keep only the newest N")
    out.add_argument("--resume_from_checkpoint", default=None, help="'latest' or a checkpoint-N folder")
    out.add_argument("--save_images_steps", type=int, default=250, help="sample grid every N steps")
    out.add_argument("--logging_steps", type=positive_int, default=10,
                     help="losses are read from the step's tensors for the progress bar and the tracker every N steps "
                          "(each read waits for the device)")
    out.add_argument("--num_grid_images", type=int, default=64)
    out.add_argument("--report_to", choices=["none", "tensorboard"], default="none")
    out.add_argument("--push_to_hub", action="store_true")
    out.add_argument("--hub_model_id", default=None, help="ORG/NAME on the Hub")
    out.add_argument("--hub_private", action="store_true")
    return parser
