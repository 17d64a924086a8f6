"""Train a progressive GAN (Karras et al. 2018) or a style-based GAN (Karras, Laine & Aila 2019), grown 4 -> 8 -> ...

    accelerate launch training/train_stylegan.py --help

The family's flags, growth schedule, loss and step are in genhub/train/stylegan.py; this file is what
``accelerate launch`` runs.
"""

from genhub.train.stylegan import main, parse_args

if __name__ == "__main__":
    main(parse_args())
