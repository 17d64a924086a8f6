"""Train a DDPM (Ho, Jain & Abbeel 2020) on an image dataset.

    accelerate launch training/train_ddpm.py --help

The family's flags, loss and step are in genhub/train/ddpm.py; this file is what ``accelerate launch`` runs.
"""

from genhub.train.ddpm import main, parse_args

if __name__ == "__main__":
    main(parse_args())
