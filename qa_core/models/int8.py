"""int8 inference on a CPU: linear layers in int8, the few outlier input channels kept in float32.

Plain dynamic quantisation (``torch.ao.quantization.quantize_dynamic``) gives each linear layer's input
one scale for the whole tensor. BERT-style encoders put "massive activations" on one or two channels of
the special tokens (``[CLS]``/``<s>``, ``[SEP]``/``</s>``), a hundred or more times the typical value; that
one value sets the scale and every other activation collapses onto a handful of int8 levels (e5-small
fine-tuned for QA lost 24 EM points on DRCD). The outliers sit on the same few channels whatever the
text, so, as in LLM.int8() (Dettmers et al., 2022), those channels are found once on a short calibration
text and multiplied in float32, and everything else in int8.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable

import torch

ENV = "QA_INT8"  # a server's operator sets it to 1 to run every model in int8
OUTLIER_THRESHOLD = 6.0  # |activation| above which a channel stays in float32 (LLM.int8()'s value)

# Written for calibration only: one English and one Chinese question, so both scripts' tokens are seen.
CALIBRATION_PAIRS = (
    (
        "How long is the bridge?",
        "The old stone bridge crosses the river at its narrowest point. It is 212 metres long and was built "
        "in 1791 by a guild of masons from the nearby town, who were paid partly in grain.",
    ),
    (
        "這座橋有多長？",
        "這座石橋橫跨河流最窄的地方，全長二百一十二公尺，於一七九一年由附近城鎮的石匠公會建成，"
        "工錢有一部分以穀物支付。",
    ),
)


def requested() -> bool:
    """True when the server's operator set QA_INT8 to 1, true or yes (the app and its load test read it)."""
    return os.environ.get(ENV, "").strip().lower() in {"1", "true", "yes"}


class OutlierSplitLinear(torch.nn.Module):
    """``linear(x)`` computed as int8 on the ordinary channels plus float32 on the outlier channels.

    The outlier columns are zeroed in the wrapped layer (so they affect neither the weight's nor the
    input's int8 scale) and multiplied separately: a (tokens x k) by (k x out) product, with k tiny.
    """

    def __init__(self, linear: torch.nn.Linear, channels: torch.Tensor):
        super().__init__()
        self.register_buffer("channels", channels)
        self.register_buffer("outlier_weight", linear.weight.detach()[:, channels].t().contiguous())
        with torch.no_grad():
            linear.weight[:, channels] = 0.0
        self.ordinary = linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.ordinary(x.index_fill(-1, self.channels, 0.0))
        # Added in place by the matrix product itself (beta=1): a separate product and sum would each
        # walk the whole output again, which cost about 15% of the int8 model's time on 384-token windows.
        y.view(-1, y.shape[-1]).addmm_(
            x[..., self.channels].reshape(-1, len(self.channels)), self.outlier_weight
        )
        return y


def input_peaks(model: torch.nn.Module, run: Callable[[], object]) -> dict[str, torch.Tensor]:
    """The largest |input| of every channel of every linear layer while ``run()`` drives the model."""
    peaks: dict[str, torch.Tensor] = {}

    def record(name: str):
        def hook(module, inputs, output) -> None:
            peak = inputs[0].detach().abs().flatten(0, -2).amax(0)
            peaks[name] = torch.maximum(peaks[name], peak) if name in peaks else peak

        return hook

    handles = [
        m.register_forward_hook(record(name))
        for name, m in model.named_modules()
        if isinstance(m, torch.nn.Linear)
    ]
    try:
        run()
    finally:
        for handle in handles:
            handle.remove()
    return peaks


def quantize(
    model: torch.nn.Module, calibrate: Callable[[], object], threshold: float = OUTLIER_THRESHOLD
) -> torch.nn.Module:
    """The model, changed in place, with int8 linear layers; ``calibrate()`` runs it on sample text to find
    the outlier channels. In place because the split already rewrites the model: a copy would only cost memory."""
    for name, peak in input_peaks(model, calibrate).items():
        channels = torch.nonzero(peak > threshold).flatten()
        if len(channels):
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name)
            setattr(parent, child, OutlierSplitLinear(getattr(parent, child), channels))
    with warnings.catch_warnings():
        # torch marks eager-mode quantisation as deprecated in favour of torchao, yet it is still the
        # int8 CPU path that ships with torch; the warnings would only alarm the people running the app.
        warnings.simplefilter("ignore", (DeprecationWarning, UserWarning))
        return torch.ao.quantization.quantize_dynamic(
            model,
            {torch.nn.Linear: torch.ao.quantization.per_channel_dynamic_qconfig},
            dtype=torch.qint8,
            inplace=True,
        )


def outlier_channels(model: torch.nn.Module) -> dict[str, int]:
    """How many input channels each split layer keeps in float32 (for reports)."""
    return {name: len(m.channels) for name, m in model.named_modules() if isinstance(m, OutlierSplitLinear)}
