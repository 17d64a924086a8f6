"""Train a VAE (Kingma & Welling 2014), or a beta-VAE (Higgins et al. 2017) with --beta > 1.

    accelerate launch training/train_vae.py --help

The family's flags, loss and step are in genhub/train/vae.py; this file is what ``accelerate launch`` runs.
"""

from genhub.train.vae import main, parse_args

if __name__ == "__main__":
    main(parse_args())
