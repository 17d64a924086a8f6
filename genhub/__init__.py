"""genhub: train the classic deep generative models, share them on the Hub, play with them in one app."""

__version__ = "0.1.0"
