"""Train a conditional DCGAN (Mirza & Osindero 2014) with a projection discriminator on face attributes.

    accelerate launch training/train_cgan.py --help

The family's flags, loss and step are in genhub/train/cgan.py; this file is what ``accelerate launch`` runs.
"""

from genhub.train.cgan import main, parse_args

if __name__ == "__main__":
    main(parse_args())
