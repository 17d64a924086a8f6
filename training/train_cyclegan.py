"""Train CycleGAN (Zhu et al. 2017) on two unpaired image domains.

    accelerate launch training/train_cyclegan.py --help

The family's flags, loss and step are in genhub/train/cyclegan.py; this file is what ``accelerate launch`` runs.
"""

from genhub.train.cyclegan import main, parse_args

if __name__ == "__main__":
    main(parse_args())
