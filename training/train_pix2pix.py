"""Train pix2pix (Isola et al. 2017) on paired images.

    accelerate launch training/train_pix2pix.py --help

The family's flags, loss and step are in genhub/train/pix2pix.py; this file is what ``accelerate launch`` runs.
"""

from genhub.train.pix2pix import main, parse_args

if __name__ == "__main__":
    main(parse_args())
