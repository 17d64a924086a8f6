"""CycleGAN: ResNet generators, losses, image pool, unpaired data, LR decay, save/load, training, exact resume."""

import json

import pytest
import torch
from safetensors.torch import load_file

from genhub.data import DataError, DataSpec, load_split
from genhub.models import CycleGAN
from genhub.models.cyclegan import ResnetGenerator
from genhub.train import cyclegan as train_cyclegan
from genhub.train.image_pool import ImagePool


def _run(*argv):
    return train_cyclegan.main(train_cyclegan.parse_args(list(argv)))


@pytest.mark.parametrize("resolution, patches", [(32, 2), (64, 6), (128, 14), (256, 30)])
def test_generator_and_discriminator_shapes_for_each_resolution(resolution, patches):
    torch.manual_seed(0)
    model = CycleGAN(resolution, ngf=4, ndf=4, n_blocks=1).eval()
    real_A, real_B = torch.randn(2, 2, 3, resolution, resolution).unbind(0)
    images = model(real_A * 10, real_B)
    assert set(images) == {"fake_B", "rec_A", "fake_A", "rec_B", "idt_A", "idt_B"}
    for image in images.values():
        assert image.shape == (2, 3, resolution, resolution) and -1 <= image.min() and image.max() <= 1
    assert set(model(real_A, real_B, identity=False)) == {"fake_B", "rec_A", "fake_A", "rec_B"}
    assert model.discriminator_A(real_A).shape == model.discriminator_B(real_B).shape == (2, 1, patches, patches)


def test_paper_sizes_are_the_defaults():
    model = CycleGAN()
    assert model.config == {"resolution": 256, "channels": 3, "ngf": 64, "ndf": 64, "n_blocks": 9, "n_layers": 3,
                            "norm": "instance", "use_dropout": False}
    assert sum(p.numel() for p in model.generator_AB.parameters()) == 11_378_179  # the authors' ResNet-9
    assert sum(p.numel() for p in model.discriminator_A.parameters()) == 2_764_737
    assert train_cyclegan.parse_args(["--output_dir", "x"]).n_blocks == 9
    assert train_cyclegan.parse_args(["--output_dir", "x", "--resolution", "128"]).n_blocks == 6


def test_directions_use_their_own_generator():
    torch.manual_seed(0)
    model = CycleGAN(32, ngf=4, ndf=4, n_blocks=1).eval()
    images = torch.randn(1, 3, 32, 32)
    assert torch.equal(model.translate(images, "AB"), model.generator_AB(images))
    assert torch.equal(model.translate(images, "BA"), model.generator_BA(images))
    fake_A, rec_B = model.cycle(images, "BA")
    assert torch.equal(rec_B, model.generator_AB(fake_A))
    with pytest.raises(ValueError, match="direction must be one of"):
        model.translate(images, "AA")


@pytest.mark.parametrize("height, width", [(37, 51), (1, 1), (6, 30)])
def test_odd_input_sizes_are_padded_and_cropped_back(height, width):
    torch.manual_seed(0)
    generator = ResnetGenerator(ngf=4, n_blocks=1).eval()
    assert generator(torch.randn(1, 3, height, width)).shape == (1, 3, height, width)


def test_unsupported_sizes_are_refused():
    with pytest.raises(ValueError, match="not a multiple of 4"):
        CycleGAN(66)
    with pytest.raises(ValueError, match="smallest input of a PatchGAN"):
        CycleGAN(16, ngf=4, ndf=4)


def test_generator_losses_match_hand_computation():
    real_A, real_B = torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2)
    images = {"rec_A": real_A + 0.1, "rec_B": real_B - 0.2, "idt_A": real_A + 0.5, "idt_B": real_B,
              "fake_A": real_A, "fake_B": real_B}
    logits_A, logits_B = torch.tensor([1.0, 0.0]), torch.tensor([0.5, 0.5])
    losses = train_cyclegan.generator_losses(logits_A, logits_B, real_A, real_B, images, 10.0, 0.5, "lsgan")
    expected = {"gan_BA": (0 + 1) / 2, "gan_AB": 0.25, "cycle_A": 10 * 0.1, "cycle_B": 10 * 0.2,
                "idt_A": 10 * 0.5 * 0.5, "idt_B": 0.0}
    assert {k: round(v.item(), 6) for k, v in losses.items()} == pytest.approx(expected)
    no_identity = train_cyclegan.generator_losses(logits_A, logits_B, real_A, real_B, images, 10.0, 0.0)
    assert set(no_identity) == {"gan_AB", "gan_BA", "cycle_A", "cycle_B"}


def test_learning_rate_is_constant_then_decays_linearly_to_zero():
    factor = train_cyclegan.linear_decay(decay_start=4, decay_steps=4)
    assert [factor(step) for step in range(10)] == [1, 1, 1, 1, 1, 0.75, 0.5, 0.25, 0, 0]
    with pytest.raises(ValueError):
        train_cyclegan.linear_decay(4, 0)


def test_schedule_length_is_known_before_fit_and_counts_steps_as_the_trainer_does():
    from genhub.train.trainer import Trainer

    args = train_cyclegan.parse_args(["--output_dir", "x", "--train_batch_size", "2", "--num_epochs", "3",
                                      "--gradient_accumulation_steps", "2"])
    thirteen = list(range(13))
    assert Trainer(args).num_training_steps(thirteen) == 3 * 3  # 6 full batches -> 3 steps per epoch
    args.max_train_samples = 8
    assert Trainer(args).num_training_steps(thirteen) == 3 * 2
    args.max_train_steps = 5
    assert Trainer(args).num_training_steps(thirteen) == 5


def test_image_pool_fills_then_swaps_half_the_time():
    torch.manual_seed(0)
    pool = ImagePool(pool_size=4)
    first = torch.arange(4.0).view(4, 1, 1, 1)
    assert torch.equal(pool.query(first), first) and len(pool) == 4  # filling: the input comes back
    offered = 100.0 + torch.arange(400.0)
    returned = torch.cat([pool.query(value.view(1, 1, 1, 1)) for value in offered]).flatten()
    new = returned == offered
    assert 150 < new.sum() < 250  # about half are the new image, the rest older ones from the pool
    older = returned[~new]
    assert all(value in range(4) or 100 <= value < offered[i] for i, value in zip((~new).nonzero().flatten(), older))
    assert len(pool) == 4 and len(set(older.tolist())) == len(older)  # a stored image is handed out once
    assert torch.equal(ImagePool(0).query(first), first)


def test_image_pool_state_round_trip_continues_identically():
    torch.manual_seed(1)
    pool = ImagePool(3)
    pool.query(torch.randn(5, 2, 4, 4, dtype=torch.bfloat16))
    state = pool.state_dict()
    assert state["images"].shape == (3, 2, 4, 4) and state["images"].dtype == torch.float32
    restored = ImagePool(3)
    restored.load_state_dict(state)
    batch = torch.randn(6, 2, 4, 4, dtype=torch.bfloat16)
    rng = torch.get_rng_state()
    expected = pool.query(batch)
    torch.set_rng_state(rng)
    got = restored.query(batch)
    assert got.dtype == torch.bfloat16 and torch.equal(expected, got)
    empty = ImagePool(3)
    empty.load_state_dict(ImagePool(3).state_dict())
    assert len(empty) == 0
    with pytest.raises(ValueError, match="--pool_size 4"):
        ImagePool(4).load_state_dict(state)


def _unpaired(source, **fields) -> DataSpec:
    return DataSpec(str(source), 16, columns={"real_A": None, "real_B": None}, **fields)


AB = {"real_A": "A", "real_B": "B"}


def test_unpaired_dataset_pairs_both_domains_deterministically(eyeglasses_dir):
    first, again, other = (load_split(_unpaired(eyeglasses_dir, domain_column="domain", domains=AB, seed=seed))
                           for seed in (0, 0, 1))
    assert (len(first.domain_a), len(first.domain_b), len(first)) == (12, 8, 12)
    assert first.order == again.order and first.order != other.order
    assert sorted(first.order) == list(range(12))
    item = first[3]
    assert set(item) == {"real_A", "real_B"} and item["real_A"].shape == (3, 16, 16)
    assert torch.equal(item["real_B"], first.domain_b[first.order[3] % 8]["real_B"])
    assert set(first.domain_a.table["domain"]) == {"A"} and set(first.domain_b.table["domain"]) == {"B"}
    one_domain = load_split(_unpaired(eyeglasses_dir, domain_column="domain", domains=AB), "test", key="real_B")
    assert len(one_domain) == 2 and set(one_domain[0]) == {"real_B"}


def test_unpaired_dataset_from_two_sources(faces_dir, eyeglasses_dir):
    two = load_split(_unpaired(faces_dir, source_b=str(eyeglasses_dir)), "test")
    assert (len(two.domain_a), len(two.domain_b)) == (16, 5)


def test_unpaired_dataset_errors_are_clear(eyeglasses_dir):
    source = str(eyeglasses_dir)
    with pytest.raises(DataError, match=r"1 image column\(s\) \['image'\] for 2 image\(s\) per row"):
        load_split(_unpaired(source))  # neither a domain column nor a second source: read as pairs
    with pytest.raises(DataError, match="not both"):
        load_split(_unpaired(source, domain_column="domain", source_b=source))
    with pytest.raises(DataError, match="no column 'kind'"):
        load_split(_unpaired(source, domain_column="kind"))
    with pytest.raises(DataError, match=r"no row has domain == 'C' \(values: \['A', 'B'\]\)"):
        load_split(_unpaired(source, domain_column="domain", domains={"real_A": "A", "real_B": "C"}))
    with pytest.raises(DataError, match="no images 'pixel_values'"):
        load_split(_unpaired(source, domain_column="domain"), key="pixel_values")


def test_save_load_round_trip_keeps_both_directions(tmp_path):
    torch.manual_seed(0)
    model = CycleGAN(32, ngf=4, ndf=4, n_blocks=2).eval()
    model.save_pretrained(tmp_path)
    loaded = CycleGAN.from_pretrained(tmp_path)
    assert loaded.config == model.config
    images = torch.randn(2, 3, 32, 32)
    for direction in ("AB", "BA"):
        for expected, got in zip(model.cycle(images, direction), loaded.cycle(images, direction)):
            assert torch.equal(expected, got)
    assert torch.equal(model.discriminator_B(images), loaded.discriminator_B(images))
    keys = load_file(tmp_path / "model.safetensors").keys()
    assert {key.split(".")[0] for key in keys} == {"generators", "discriminator_A", "discriminator_B"}
    assert any(key.startswith("generators.generator_BA.") for key in keys)


def test_few_steps_export_a_loadable_folder(tiny_cyclegan_export, eyeglasses_dir):
    out = tiny_cyclegan_export
    assert {"config.json", "model.safetensors", "README.md", "samples.png", "training_info.json"} <= {
        p.name for p in out.iterdir()}
    info = json.loads((out / "training_info.json").read_text())
    assert info["family"] == "cyclegan" and info["global_step"] == 4 and info["dataset"] == str(eyeglasses_dir)
    assert info["domains"] == {"A": "no_eyeglasses", "B": "eyeglasses"}
    assert set(info["final_losses"]) == {"loss_g", "loss_cycle", "loss_idt", "loss_d_A", "loss_d_B"}
    assert set(info["metrics"]) == {"heldout_cycle_l1_A", "heldout_cycle_l1_B"}
    assert "pipeline_tag: image-to-image" in (out / "README.md").read_text()
    model = CycleGAN.from_pretrained(out)
    for direction in ("AB", "BA"):
        assert model.translate(torch.zeros(1, 3, 32, 32), direction).shape == (1, 3, 32, 32)
    initial = CycleGAN(**model.config)
    assert not torch.equal(model.generator_BA.net[1].weight, initial.generator_BA.net[1].weight)
    # the learning rate ran constant for 2 steps, then fell linearly: 2e-4 * (1 - 2/2) after step 4
    scheduler = torch.load(out / "checkpoint-4" / "scheduler.bin", weights_only=False)
    assert scheduler["_last_lr"] == [0.0]
    pools = [torch.load(path, weights_only=False) for path in sorted((out / "checkpoint-4").glob("custom_*"))]
    assert sorted(p["images"].shape[0] for p in pools if "pool_size" in p) == [3, 3]
