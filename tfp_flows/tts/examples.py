"""Held-out sentences as pictures and sound: target and generated mels side by side, WAVs.

```none
example_mels(models, split, indices)   {"target": [mel_i], label: [model's mel_i at T]}
                                        (generated with the sentence's true durations, so every
                                         row has the target's frames)
plot_mels(mels, titles)                 a figure: one row per label, one column per sentence
write_example_wavs(mels, config, dir)   Griffin-Lim WAVs (tfp_flows.tts.griffin_lim), one per label
```

#### Examples

>>> mels = {"target": [np.zeros([6, 4])], "model": [np.ones([6, 4])]}
>>> figure = plot_mels(mels, titles=["a sentence"])
>>> len(figure.axes)
2
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np

from tfp_flows.datasets.log_mel import MelConfig
from tfp_flows.datasets.speech import SpeechSplit
from tfp_flows.tts.model import TextToSpeech
from tfp_flows.tts.vocoder import griffin_lim, write_wav

__all__ = ["example_mels", "plot_mels", "write_example_wavs"]


def example_mels(
    models: Mapping[str, tuple[TextToSpeech, float]],
    split: SpeechSplit,
    indices: Sequence[int] = (0,),
    *,
    seed: int = 0,
) -> dict[str, list[np.ndarray]]:
    """``{"target": [...], label: [...]}``: log-mels ``[T_i, M]`` of sentences ``indices``.

    Args:
      models: ``label -> (model, temperature)``.
      split: where the sentences come from (their true durations align the frames).
      indices: sentences of ``split``.
      seed: the sampling seed of every model.
    """
    batch = split.batch(np.asarray(indices))
    result: dict[str, list[np.ndarray]] = {}
    lengths = None
    for label, (model, temperature) in models.items():
        data = model.prepare(batch)
        generated, frames = model.synthesize(
            data["phoneme_ids"],
            data["phoneme_lengths"],
            durations=data["durations"],
            temperature=temperature,
            seed=seed,
        )
        frames = frames.numpy()
        lengths = frames if lengths is None else np.minimum(lengths, frames)
        result[label] = [generated.numpy()[i, : frames[i]] for i in range(len(indices))]
    if lengths is None:
        lengths = batch.frame_lengths
    target = [batch.mels[i, : lengths[i]] for i in range(len(indices))]
    return {
        "target": target,
        **{k: [m[: lengths[i]] for i, m in enumerate(v)] for k, v in result.items()},
    }


def plot_mels(
    mels: Mapping[str, Sequence[np.ndarray]],
    titles: Sequence[str] = (),
    *,
    limits: tuple[float, float] = (-11.5, 4.0),
):
    """A matplotlib ``Figure``: row ``label``, column ``i`` shows ``mels[label][i]`` (bands up)."""
    from matplotlib.figure import Figure

    labels = list(mels)
    columns = len(mels[labels[0]])
    figure = Figure(figsize=(3.2 * columns, 1.5 * len(labels)))
    axes = figure.subplots(len(labels), columns, squeeze=False)
    for row, label in enumerate(labels):
        for column in range(columns):
            axis = axes[row, column]
            axis.imshow(
                np.asarray(mels[label][column]).T,
                origin="lower",
                aspect="auto",
                vmin=limits[0],
                vmax=limits[1],
            )
            axis.set_xticks([])
            axis.set_yticks([])
            if column == 0:
                axis.set_ylabel(label, fontsize=8)
    for column, title in enumerate(titles):
        axes[0, column].set_title(title, fontsize=7)
    figure.tight_layout()
    return figure


def write_example_wavs(
    mels: Mapping[str, Sequence[np.ndarray]],
    config: MelConfig,
    directory: str | os.PathLike,
    *,
    prefix: str = "",
    index: int = 0,
    iterations: int = 32,
) -> list[str]:
    """Writes ``{prefix}{label}.wav`` for sentence ``index`` of every label; returns the paths.

    Labels become file names with spaces as ``_`` and ``=`` dropped (``"flow T=0"`` ->
    ``flow_T0``).
    """
    os.makedirs(directory, exist_ok=True)
    paths = []
    for label, sentences in mels.items():
        audio = griffin_lim(sentences[index], config, iterations=iterations)
        name = label.replace(" ", "_").replace("=", "")
        path = os.path.join(directory, f"{prefix}{name}.wav")
        write_wav(path, audio.numpy(), config.sample_rate)
        paths.append(path)
    return paths
