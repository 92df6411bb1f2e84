"""int8 with outlier channels in float32: exact decomposition, and accuracy where plain quantisation fails."""

import copy

import torch

from qa_core.models.int8 import OutlierSplitLinear, input_peaks, outlier_channels, quantize


def _layer_and_input() -> tuple[torch.nn.Sequential, torch.Tensor]:
    """A linear layer whose input has BERT's "massive activation": one channel of one token ~100x the rest."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(64, 32))
        x = torch.randn(2, 40, 64) * 0.5
    x[:, 0, 7] = 150.0  # the [CLS]-like token, channel 7
    return model, x


def _relative_error(model: torch.nn.Module, reference: torch.Tensor, x: torch.Tensor) -> float:
    """Error on the ordinary tokens (all but the first), relative to their typical output size."""
    with torch.no_grad():
        out = model(x)
    return float((out - reference)[:, 1:].abs().mean() / reference[:, 1:].abs().mean())


def test_the_split_is_exact_in_float32() -> None:
    model, x = _layer_and_input()
    with torch.no_grad():
        expected = model(x)
        split = OutlierSplitLinear(copy.deepcopy(model[0]), torch.tensor([7, 20]))
        assert torch.allclose(split(x), expected, atol=1e-4)
    assert split.ordinary.weight[:, [7, 20]].abs().sum() == 0, "outlier columns leave the int8 weight"


def test_calibration_finds_the_outlier_channel_only() -> None:
    model, x = _layer_and_input()
    peaks = input_peaks(model, lambda: model(x))
    assert list(peaks) == ["0"] and peaks["0"].shape == (64,)
    assert torch.nonzero(peaks["0"] > 6.0).flatten().tolist() == [7]
    assert not model[0]._forward_hooks, "calibration hooks are removed"


def test_int8_keeps_accuracy_where_plain_dynamic_quantisation_loses_it() -> None:
    model, x = _layer_and_input()
    with torch.no_grad():
        reference = model(x)
    plain = torch.ao.quantization.quantize_dynamic(copy.deepcopy(model), {torch.nn.Linear}, dtype=torch.qint8)
    calibrated = copy.deepcopy(model)
    int8 = quantize(calibrated, lambda: calibrated(x))
    assert outlier_channels(int8) == {"0": 1}
    assert _relative_error(plain, reference, x) > 0.2, "plain per-tensor int8 is swamped by the outlier"
    assert _relative_error(int8, reference, x) < 0.02
    assert any("quantized" in type(m).__module__ for m in int8.modules())


def test_below_the_threshold_every_layer_is_plain_int8() -> None:
    model, x = _layer_and_input()
    int8 = quantize(model, lambda: model(x), threshold=1e9)
    assert outlier_channels(int8) == {}
