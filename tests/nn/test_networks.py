"""Encoder bodies and decoders: shapes for awkward image sizes, and which pixels they see."""
import math

import pytest
import torch
from torch import nn

from vaelab.config import ModelConfig
from vaelab.errors import ConfigError
from vaelab.nn import build_vae
from vaelab.nn.networks import ConvBody, ConvDecoder, MLPBody, MLPDecoder

IMAGE_SHAPES = [(1, 30, 30), (3, 7, 9), (1, 28, 28), (2, 5, 3), (1, 1, 1), (1, 4, 4)]


@pytest.mark.parametrize("shape", IMAGE_SHAPES)
@pytest.mark.parametrize("hidden", [(), (8,)])
def test_conv_body_and_decoder_shapes(shape, hidden):
    torch.manual_seed(0)
    body = ConvBody(shape, hidden)
    x = torch.randn(3, *shape)
    h = body(x)
    gh, gw = math.ceil(shape[1] / 4), math.ceil(shape[2] / 4)
    assert h.shape == (3, body.out_features)
    assert body.out_features == (hidden[-1] if hidden else 64 * gh * gw)
    decoder = ConvDecoder(5, hidden, shape)
    assert decoder(torch.randn(3, 5)).shape == (3, *shape)


@pytest.mark.parametrize("shape", [(1, 30, 30), (3, 7, 9), (2, 5, 3)])
def test_conv_body_sees_every_pixel(shape):
    # Padding must go right/bottom and keep every input pixel inside the receptive field:
    # each pixel (including the last row and column) must influence the features.
    torch.manual_seed(1)
    body = ConvBody(shape, (8,)).double()
    x = torch.randn(8, *shape, dtype=torch.float64, requires_grad=True)
    (body(x) ** 2).sum().backward()
    seen = (x.grad.abs().sum(0) > 0)
    assert seen.all(), f"pixels with no influence: {(~seen).nonzero().tolist()[:5]}"


@pytest.mark.parametrize("shape", [(1, 30, 30), (3, 7, 9), (2, 5, 3)])
def test_conv_decoder_every_output_depends_on_z(shape):
    # The crop keeps the top-left H x W: every kept pixel must be produced from z, not just a bias.
    torch.manual_seed(2)
    decoder = ConvDecoder(4, (8,), shape).double()
    z = torch.randn(2, 4, dtype=torch.float64)
    # one pass: the directional derivative along a random direction in z
    _, tangent = torch.autograd.functional.jvp(decoder, z, torch.randn_like(z))  # (2, C, H, W)
    assert tangent.shape == (2, *shape)
    assert (tangent.abs().sum(0) > 0).all()


def test_conv_body_pads_right_and_bottom():
    torch.manual_seed(3)
    body = ConvBody((3, 7, 9), ())
    assert body.pad == (0, 3, 0, 1)  # (left, right, top, bottom) in F.pad's order
    # an input already a multiple of 4 is not padded
    assert not any(ConvBody((1, 8, 12), ()).pad)


@pytest.mark.parametrize("shape", [(1, 30, 30), (3, 7, 9)])
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_conv_vae_round_trip_shapes(shape, likelihood):
    torch.manual_seed(4)
    module = build_vae(
        ModelConfig(input_shape=shape, arch="conv", hidden=(8,), latent_dim=2, likelihood=likelihood)
    )
    x = torch.bernoulli(torch.full((2, *shape), 0.5))
    mu, _ = module.encode_params(x)
    assert module.decode_params(mu).shape == (2, *shape)
    assert module.elbo(x).shape == (2,)
    assert module.sample(3).shape == (3, *shape)


@pytest.mark.parametrize("shape", [(6,), (1, 3, 4)])
def test_mlp_shapes(shape):
    torch.manual_seed(5)
    body = MLPBody(shape, (8, 4))
    x = torch.randn(3, *shape)
    assert body(x).shape == (3, 4) and body.out_features == 4
    assert (body(x) >= 0).all()  # ReLU after the last hidden layer
    decoder = MLPDecoder(2, (8, 4), shape)
    assert decoder(torch.randn(3, 2)).shape == (3, *shape)
    # the decoder runs through the hidden sizes reversed: 2 -> 4 -> 8 -> D
    sizes = [m.out_features for m in decoder if isinstance(m, nn.Linear)]
    assert sizes == [4, 8, math.prod(shape)]
    # the decoder's last layer is linear: outputs can be negative
    assert (decoder(3 * torch.randn(64, 2)) < 0).any()


def test_mlp_no_hidden_layers():
    torch.manual_seed(6)
    body = MLPBody((2, 3), ())
    x = torch.randn(4, 2, 3)
    torch.testing.assert_close(body(x), x.reshape(4, 6))  # h is the flattened x
    assert body.out_features == 6
    decoder = MLPDecoder(3, (), (2, 3))
    layers = [m for m in decoder if not isinstance(m, nn.Unflatten)]
    assert len(layers) == 1 and isinstance(layers[0], nn.Linear)


def test_conv_arch_needs_images():
    with pytest.raises(ConfigError, match=r"arch 'conv' needs image data of shape \(C, H, W\).*\(10,\)"):
        ModelConfig(arch="conv", input_shape=(10,))
    ModelConfig(arch="conv", input_shape=(1, 3, 3))  # an image is fine


# ------------------------------------------------------------------ windows of time series (TimeVAE)
from vaelab.nn.networks import HARMONICS, TREND_DEGREE, TimeBody, TimeDecoder  # noqa: E402


@pytest.mark.parametrize("steps,features,extra", [(16, 2, 0), (15, 3, 6), (24, 5, 0), (3, 1, 2), (1, 1, 0)])
@pytest.mark.parametrize("hidden", [(), (16,), (32, 16)])
def test_time_body_and_decoder_shapes(steps, features, extra, hidden):
    torch.manual_seed(0)
    shape = (steps * features + extra,)
    body = TimeBody(shape, hidden, (steps, features))
    h = body(torch.randn(4, *shape))
    assert h.shape == (4, body.out_features)
    decoder = TimeDecoder(7, hidden, shape, (steps, features))
    assert decoder(torch.randn(4, 7)).shape == (4, *shape)


def test_time_body_sees_every_step_and_extra():
    torch.manual_seed(1)
    shape = (15 * 3 + 4,)
    body = TimeBody(shape, (8,), (15, 3)).double()
    x = torch.randn(8, *shape, dtype=torch.float64, requires_grad=True)
    (body(x) ** 2).sum().backward()
    assert (x.grad.abs().sum(0) > 0).all()


def test_time_decoder_trend_and_seasonality_blocks_are_what_they_say():
    """With the residual and extras silenced, the output is the trend polynomial plus the Fourier terms
    whose coefficients the linear maps give: a known curve comes out exactly."""
    S, F = 20, 2
    dec = TimeDecoder(3, (), (S * F,), (S, F)).double()
    with torch.no_grad():
        for p in dec.parameters():
            p.zero_()
        coef = torch.zeros(F, TREND_DEGREE + 1, dtype=torch.float64)
        coef[0] = torch.tensor([1.0, -2.0, 3.0])  # feature 0: 1 - 2u + 3u^2, u = t / S
        dec.trend.bias.copy_(coef.reshape(-1))
        season = torch.zeros(F, 2 * HARMONICS, dtype=torch.float64)
        season[1, 1] = 0.5  # feature 1: 0.5 cos(2π·2·t / S)
        season[1, HARMONICS] = -1.0  # and - sin(2π·t / S)
        dec.season.bias.copy_(season.reshape(-1))
    out = dec(torch.zeros(1, 3, dtype=torch.float64)).reshape(S, F)
    u = torch.arange(S, dtype=torch.float64) / S
    torch.testing.assert_close(out[:, 0], 1 - 2 * u + 3 * u**2)
    torch.testing.assert_close(out[:, 1], 0.5 * torch.cos(2 * math.pi * 2 * u) - torch.sin(2 * math.pi * u))


def test_timevae_config_builds_and_needs_its_layout():
    cfg = ModelConfig(input_shape=(16 * 2 + 4,), arch="timevae", hidden=(32,), likelihood="gaussian",
                      time_layout=(16, 2))  # fmt: skip
    module = build_vae(cfg)
    assert isinstance(module.encoder, TimeBody) and isinstance(module.decoder, TimeDecoder)
    x = torch.randn(5, 36)
    assert module.elbo(x).shape == (5,)
    with pytest.raises(ConfigError, match="windows of time series"):
        ModelConfig(input_shape=(36,), arch="timevae")
    with pytest.raises(ConfigError, match="windows of time series"):
        ModelConfig(input_shape=(30,), arch="timevae", time_layout=(16, 2))
    with pytest.raises(ConfigError, match="time_layout describes"):
        ModelConfig(input_shape=(36,), arch="mlp", time_layout=(16, 2))
