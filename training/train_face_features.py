"""Train genhub's face feature network (the feature space of its offline FID/KID).

    accelerate launch training/train_face_features.py --help

The family's flags, loss and step are in genhub/train/face_features.py; this file is what ``accelerate launch`` runs.
"""

from genhub.train.face_features import main, parse_args

if __name__ == "__main__":
    main(parse_args())
