"""Train a Gated PixelCNN (van den Oord et al. 2016), an autoregressive model of images.

    accelerate launch training/train_pixelcnn.py --help

The family's flags, loss and step are in genhub/train/pixelcnn.py; this file is what ``accelerate launch`` runs.
"""

from genhub.train.pixelcnn import main, parse_args

if __name__ == "__main__":
    main(parse_args())
