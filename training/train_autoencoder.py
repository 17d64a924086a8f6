"""Train a deterministic autoencoder (Hinton & Salakhutdinov 2006), or a denoising one with --noise_std > 0.

    accelerate launch training/train_autoencoder.py --help

The family's flags, loss and step are in genhub/train/autoencoder.py; this file is what ``accelerate launch`` runs.
"""

from genhub.train.autoencoder import main, parse_args

if __name__ == "__main__":
    main(parse_args())
