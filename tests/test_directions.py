"""InterFaceGAN attribute directions: a planted linear attribute is recovered, conditioning removes the other
direction, and the boundaries round-trip through an export into the DCGAN and the Latent explorer's sliders."""

import pytest
import torch

from genhub.app.tabs.latent import Explorer, ExplorerState
from genhub.evaluation.directions import SPACES, fit_boundaries, label_samples, main, save_boundaries
from genhub.geometry import condition, linear_boundary
from genhub.models import DCGAN, StyleGAN

pytestmark = pytest.mark.usefixtures("one_thread")  # torch on one thread in this module


class _Toy(torch.nn.Module):
    """A 'generator' whose image brightness is z . u, and a 'classifier' whose Smiling logit is the brightness."""

    attributes = ["Smiling", "Male"]

    def __init__(self, u: torch.Tensor):
        super().__init__()
        self.u = u

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        return (z @ self.u).tanh().view(-1, 1, 1, 1).expand(-1, 3, 4, 4)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        brightness = images.mean((1, 2, 3))
        return torch.stack([brightness, torch.zeros_like(brightness)], dim=1)


def test_a_planted_linear_attribute_is_recovered():
    u = torch.randn(16, generator=torch.Generator().manual_seed(0))
    u = u / u.norm()
    toy = _Toy(u)
    z, logits = label_samples(toy.generate, toy, 2000, 16, seed=1)
    found = fit_boundaries(z, logits, toy.attributes, wanted=("Smiling",))
    assert float(found["Smiling"]["direction"] @ u) > 0.99 and found["Smiling"]["accuracy"] > 0.95
    assert "Male" not in fit_boundaries(z, logits, toy.attributes, wanted=("Beard",))
    with pytest.raises(ValueError, match="with and without"):
        linear_boundary(z[:4], torch.ones(4))


def test_conditioning_removes_the_other_direction():
    n1, n2 = torch.tensor([0.6, 0.8, 0.0]), torch.tensor([1.0, 0.0, 0.0])
    conditioned = condition(n1, n2)
    assert torch.allclose(conditioned, torch.tensor([0.0, 1.0, 0.0]))  # n1 - (n1.n2) n2, renormalised
    several = condition(torch.tensor([1.0, 1.0, 1.0]), n2, torch.tensor([0.0, 1.0, 0.0]))
    assert torch.allclose(several, torch.tensor([0.0, 0.0, 1.0]), atol=1e-6)
    with pytest.raises(ValueError, match="span"):
        condition(n2, n2)


def test_boundaries_round_trip_into_the_dcgan_and_its_explorer(tmp_path):
    model = DCGAN(32, 8, 3, 8, 8)
    model.save_pretrained(tmp_path)
    direction = torch.eye(8)[2]
    save_boundaries(tmp_path, {"Smiling": {"direction": direction, "accuracy": 0.9, "samples": 10}})
    loaded = DCGAN.from_pretrained(str(tmp_path))
    assert torch.equal(loaded.boundaries["Smiling"], direction)
    explorer = Explorer(loaded.eval())
    assert explorer.attribute_names == ["Smiling"] and torch.equal(explorer.attribute_vectors[0], direction)
    assert DCGAN.from_pretrained(str(tmp_path), force_download=False).boundaries  # and again, from the same folder


def test_the_command_refuses_a_missing_feature_network_clearly(tiny_export, tmp_path, capsys):
    assert main([str(tiny_export), "--feature_network", str(tmp_path / "none")]) == 2
    assert "no training_info.json" in capsys.readouterr().err


def test_a_style_based_generators_directions_live_in_w_and_round_trip(tmp_path):
    torch.manual_seed(0)
    model = StyleGAN(8, latent_dim=8, w_dim=6, mapping_layers=2, channel_base=32, max_channels=8).eval()
    to_code, decode = SPACES["stylegan"]
    brightness = _Toy(torch.zeros(8))  # its Smiling logit is the image's mean brightness
    codes, logits = label_samples(lambda w: decode(model, w), brightness, 64, 8, seed=3,
                                  to_code=lambda z: to_code(model, z))
    z = torch.randn(64, 8, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.allclose(codes, model.mapping(z))  # w, not z
        assert torch.allclose(logits[:, 0], model.decode_w(codes).mean((1, 2, 3)), atol=1e-6)
    model.save_pretrained(tmp_path)
    direction = torch.eye(6)[1]
    save_boundaries(tmp_path, {"Smiling": {"direction": direction, "accuracy": 0.9, "samples": 10},
                               "Male": {"direction": torch.ones(8), "accuracy": 0.9, "samples": 10}})
    assert list(StyleGAN.from_pretrained(str(tmp_path)).boundaries) == ["Smiling"]  # a z-sized vector is left out


def test_the_explorers_keep_choice_holds_the_other_attribute_fixed(tmp_path):
    model = DCGAN(32, 8, 3, 8, 8)
    model.save_pretrained(tmp_path)
    smiling, male = torch.tensor([0.6, 0.8, 0, 0, 0, 0, 0, 0]), torch.eye(8)[0]
    save_boundaries(tmp_path, {"Smiling": {"direction": smiling, "accuracy": 0.9, "samples": 10},
                               "Male": {"direction": male, "accuracy": 0.9, "samples": 10}})
    explorer = Explorer(DCGAN.from_pretrained(str(tmp_path)).eval())
    state = explorer.random_face(ExplorerState(), seed=1)[-1]
    values = explorer._sliders_for(state.base)
    _, free = explorer.edit(state, values, [2.0, 0.0])
    free_code = free.code.clone()
    _, kept = explorer.edit(state, values, [2.0, 0.0], keep=["Male"])
    assert float((free_code - kept.base) @ male) == pytest.approx(1.2, abs=1e-5)  # Smiling also moves Male
    assert float((kept.code - kept.base) @ male) == pytest.approx(0.0, abs=1e-5)  # not once Male is kept
    assert float((kept.code - kept.base).norm()) == pytest.approx(2.0, abs=1e-5)  # the same distance
    with pytest.raises(ValueError, match="no attribute slider for Wings"):
        explorer.edit(state, values, [0.0, 0.0], keep=["Wings"])


def test_the_held_out_accuracy_does_not_assume_a_boundary_through_the_origin():
    u = torch.eye(16)[0]
    toy = _Toy(u)
    z, logits = label_samples(toy.generate, toy, 2000, 16, seed=1)
    shifted = fit_boundaries(z + 3.0, logits, toy.attributes, wanted=("Smiling",))  # codes far from the origin
    assert float(shifted["Smiling"]["direction"] @ u) > 0.99 and shifted["Smiling"]["accuracy"] > 0.95
