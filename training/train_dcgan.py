"""Train a DCGAN (Radford et al. 2016) on an image dataset.

    accelerate launch training/train_dcgan.py --help

The family's flags, loss and step are in genhub/train/dcgan.py; this file is what ``accelerate launch`` runs.
"""

from genhub.train.dcgan import main, parse_args

if __name__ == "__main__":
    main(parse_args())
