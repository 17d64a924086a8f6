"""Train a DB-VAE face detector (Amini et al. 2019), or with --baseline the standard CNN it is compared with.

    accelerate launch training/train_dbvae.py --help

The family's flags, loss, resampling and step are in genhub/train/dbvae.py; this file is what ``accelerate launch``
runs.
"""

from genhub.train.dbvae import main, parse_args

if __name__ == "__main__":
    main(parse_args())
