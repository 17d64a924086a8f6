"""Make the two-voice speech dataset (parquet, Hub layout) for CycleGAN voice conversion.

    python training/make_speech_domains.py --output_dir data/voices [--num_train 400 --num_test 40 --num_paired 40
        --seed 0 --synthetic]

Everything it does is in genhub/voices.py.
"""

from genhub.voices import main, parse_args

if __name__ == "__main__":
    main(parse_args())
