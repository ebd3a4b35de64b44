"""Flow-TTS: the flow decoder's exact log-det, round trips, masks, training, synthesis, errors."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows.datasets import espeak
from tfp_flows.datasets.log_mel import MelConfig, log_mel_spectrogram
from tfp_flows.tts import (
    FlowDecoder,
    GaussianDecoder,
    TextToSpeech,
    fit_text_to_speech,
    griffin_lim,
    length_regulate,
    mel_cepstral_distortion,
)

needs_espeak = pytest.mark.skipif(
    not espeak.espeak_available(),
    reason="eSpeak NG is not installed: pip install espeakng-loader (the `speech` extra)",
)


def _perturbed_decoder(dtype=tf.float64, **kwargs):
    settings = dict(
        condition_channels=2, num_levels=2, steps_per_level=2, hidden_channels=8, num_layers=2
    )
    decoder = FlowDecoder(4, seed=0, dtype=dtype, **{**settings, **kwargs})
    rng = np.random.default_rng(1)
    for variable in decoder.trainable_variables:  # move off the identity start
        variable.assign(variable + 0.2 * rng.standard_normal(variable.shape))
    return decoder


@pytest.mark.slow
def test_flow_decoder_log_det_is_the_autodiff_jacobians():
    decoder = _perturbed_decoder()
    rng = np.random.default_rng(2)
    x = tf.constant(rng.standard_normal([1, 4, 4]))
    condition = tf.constant(rng.standard_normal([1, 4, 2]))
    mask = tf.ones([1, 4], tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(x)
        z, log_det = decoder.encode(x, mask, condition)
    jacobian = tf.reshape(tape.jacobian(z, x), [16, 16]).numpy()
    sign, expected = np.linalg.slogdet(jacobian)
    assert sign != 0 and abs(expected) > 0.1  # a map far from volume-preserving
    np.testing.assert_allclose(log_det.numpy()[0], expected, atol=1e-8)


def test_flow_decoder_round_trip_and_padding_leave_real_frames_alone():
    decoder = _perturbed_decoder(tf.float32)
    rng = np.random.default_rng(3)
    x = tf.constant(rng.standard_normal([2, 8, 4]), tf.float32)
    condition = tf.constant(rng.standard_normal([2, 8, 2]), tf.float32)
    mask = tf.constant([[1.0] * 8, [1.0] * 4 + [0.0] * 4])
    z, log_det = decoder.encode(x, mask, condition)
    back = decoder.decode(z, mask, condition)
    np.testing.assert_allclose(
        back.numpy() * mask.numpy()[..., None], (x * mask[..., None]).numpy(), atol=1e-4
    )
    # The short row, alone and unpadded, gives the same latent and log-det.
    z_alone, log_det_alone = decoder.encode(x[1:, :4], tf.ones([1, 4]), condition[1:, :4])
    np.testing.assert_allclose(z[1:, :4].numpy(), z_alone.numpy(), atol=1e-5)
    np.testing.assert_allclose(log_det[1].numpy(), log_det_alone[0].numpy(), rtol=1e-5)
    assert np.all(z[1, 4:].numpy() == 0.0)


def test_length_regulator_repeats_each_state_its_duration():
    rng = np.random.default_rng(4)
    states = rng.standard_normal([2, 3, 5]).astype(np.float32)
    durations = np.array([[2, 0, 3], [1, 4, 0]])
    expanded = length_regulate(tf.constant(states), tf.constant(durations)).numpy()
    assert expanded.shape == (2, 5, 5)
    for row in range(2):
        expected = np.repeat(states[row], durations[row], axis=0)
        np.testing.assert_array_equal(expanded[row, : len(expected)], expected)
        assert np.all(expanded[row, len(expected) :] == 0)


def test_gaussian_decoder_loss_is_the_normal_negative_log_likelihood():
    decoder = GaussianDecoder(4, condition_channels=2, hidden_channels=8, num_layers=2, seed=0)
    rng = np.random.default_rng(5)
    for variable in decoder.trainable_variables:
        variable.assign(variable + 0.2 * rng.standard_normal(variable.shape))
    mels = tf.constant(rng.standard_normal([1, 3, 4]), tf.float32)
    condition, mask = tf.constant(rng.standard_normal([1, 3, 2]), tf.float32), tf.ones([1, 3])
    out = decoder.network(condition, mask)
    expected = -tfp.distributions.Normal(out[..., :4], tf.exp(out[..., 4:])).log_prob(mels)
    np.testing.assert_allclose(
        decoder.loss(mels, mask, condition), tf.reduce_mean(expected), rtol=1e-5
    )


def test_mel_cepstral_distortion_is_zero_only_for_equal_frames():
    rng = np.random.default_rng(6)
    a = tf.constant(rng.standard_normal([1, 5, 80]), tf.float32)
    b = a + tf.constant(rng.standard_normal([1, 5, 80]), tf.float32)
    mask = tf.ones([1, 5])
    assert float(mel_cepstral_distortion(a, a, mask)) == 0.0
    assert float(mel_cepstral_distortion(a, b, mask)) > 1.0
    np.testing.assert_allclose(
        mel_cepstral_distortion(a, b, mask), mel_cepstral_distortion(b, a, mask)
    )
    with pytest.raises(ValueError, match="differ in shape"):
        mel_cepstral_distortion(a, b[:, :4], mask)


def test_griffin_lim_gives_back_a_waveform_with_the_same_log_mels():
    config = MelConfig()
    t = np.arange(5632) / config.sample_rate
    wave = (0.5 * np.sin(2 * np.pi * 300 * t) + 0.3 * np.sin(2 * np.pi * 1200 * t)).astype(
        np.float32
    )
    mel = log_mel_spectrogram(wave, config)
    audio = griffin_lim(mel, config, iterations=16)
    again = log_mel_spectrogram(audio * float(np.abs(wave).max() / np.abs(audio).max()), config)
    loud = mel[2:-2] > 0.0  # away from the edges, where the frames are half padding
    assert np.mean(np.abs(again[2:-2] - mel[2:-2])[loud]) < 0.5
    with pytest.raises(ValueError, match=r"expected log-mels \[T, 80\], got \(3, 40\)"):
        griffin_lim(tf.zeros([3, 40]), config)


def test_model_arguments_and_inputs_are_checked():
    with pytest.raises(ValueError, match=r"decoder must be one of .*got 'vae'"):
        TextToSpeech(5, decoder="vae")
    with pytest.raises(ValueError, match="must halve 3 times"):
        FlowDecoder(5, squeeze=2, num_levels=3)
    decoder = FlowDecoder(
        4, condition_channels=2, num_levels=1, steps_per_level=1, hidden_channels=4, num_layers=1
    )
    with pytest.raises(ValueError, match=r"expected mels \[B, T, 4\], got shape \(1, 4, 3\)"):
        decoder.encode(tf.zeros([1, 4, 3]), tf.ones([1, 4]), tf.zeros([1, 4, 2]))
    with pytest.raises(ValueError, match=r"expected text states \[B, T, 2\], got None"):
        decoder.encode(tf.zeros([1, 4, 4]), tf.ones([1, 4]))
    model = TextToSpeech(
        5, num_mels=4, channels=4, decoder_hidden=4, decoder_layers=1, steps_per_level=1
    )
    with pytest.raises(TypeError, match="expected a SpeechBatch"):
        model.prepare({"mels": np.zeros([1, 4, 4])})
    with pytest.raises(
        ValueError, match=r"expected phoneme_ids \[B, N\] and phoneme_lengths \[B\]"
    ):
        model.synthesize([1, 2, 3], [3])
    with pytest.raises(ValueError, match="integer phoneme ids"):
        model.encoder(tf.zeros([1, 3]), tf.ones([1, 3]))


@needs_espeak
@pytest.mark.slow
def test_flow_tts_trains_on_synthesised_sentences_and_synthesises_in_one_pass(tmp_path):
    from tfp_flows.datasets import speech

    train = speech("train", num_sentences=10, cache_dir=tmp_path)
    model = TextToSpeech(
        len(train.vocabulary),
        channels=16,
        encoder_layers=1,
        decoder_hidden=16,
        decoder_layers=2,
        num_levels=2,
        steps_per_level=1,
        seed=0,
    )
    history = fit_text_to_speech(
        model, train, steps=6, batch_size=4, learning_rate=3e-3, compiled=False
    )
    assert history["loss"][-1] < history["loss"][0] - 0.1
    assert history["duration_loss"][-1] < history["duration_loss"][0]
    batch = train.batch([0, 1])
    given = batch.durations.copy()
    mels, frames = model.synthesize(
        batch.phoneme_ids, batch.phoneme_lengths, seed=0, durations=given
    )
    np.testing.assert_array_equal(frames.numpy(), given.sum(-1) + given.sum(-1) % 2)
    assert mels.shape == (2, int(frames.numpy().max()), 80) and np.all(np.isfinite(mels.numpy()))
    again, _ = model.synthesize(batch.phoneme_ids, batch.phoneme_lengths, seed=0, durations=given)
    np.testing.assert_array_equal(mels.numpy(), again.numpy())
    cold, _ = model.synthesize(
        batch.phoneme_ids, batch.phoneme_lengths, seed=0, durations=given, temperature=0.0
    )
    assert np.abs(cold.numpy() - mels.numpy()).max() > 0.01  # the temperature scales the latent
    # The nll on the training batch, raw log-mel units, is the decoder loss shifted by the scaler.
    data = model.prepare(batch)
    loss, _ = model.losses(data)
    shift = float(np.mean(model.mel_log_std.numpy()))
    np.testing.assert_allclose(model.nll_per_bin(loss).numpy(), float(loss) + shift, rtol=1e-6)


def test_the_text_prior_is_the_latent_density_and_decodes_its_mean_at_temperature_zero():
    decoder = _perturbed_decoder()
    rng = np.random.default_rng(5)
    x = tf.constant(rng.standard_normal([1, 4, 4]))
    condition = tf.constant(rng.standard_normal([1, 4, 2]))
    mask = tf.ones([1, 4], tf.float64)
    z, log_det = decoder.encode(x, mask, condition)
    mean, log_scale = decoder.prior.mean_and_log_scale(condition, mask)
    assert float(tf.reduce_min(tf.abs(mean))) > 1e-3  # the prior reads the text
    expected = tf.reduce_sum(tfp.distributions.Normal(mean, tf.exp(log_scale)).log_prob(z))
    np.testing.assert_allclose(decoder.log_prob(x, mask, condition), expected + log_det, rtol=1e-10)
    point = decoder.generate(condition, mask, temperature=0.0, seed=3)
    np.testing.assert_allclose(point, decoder.decode(mean, mask, condition), atol=1e-12)


def test_point_l1_adds_the_l1_of_the_decoded_prior_mean_to_the_training_loss_only():
    decoder = _perturbed_decoder(point_l1=0.5)
    rng = np.random.default_rng(6)
    x = tf.constant(rng.standard_normal([2, 4, 4]))
    condition = tf.constant(rng.standard_normal([2, 4, 2]))
    mask = tf.constant([[1.0] * 4, [1.0] * 2 + [0.0] * 2], tf.float64)
    nll = decoder.loss(x, mask, condition)  # scored: the exact NLL per bin
    np.testing.assert_allclose(nll, -tf.reduce_sum(decoder.log_prob(x, mask, condition)) / 24)
    point = decoder.generate(condition, mask, temperature=0.0)  # decode(mu(text))
    error = np.abs(point.numpy() - x.numpy()) * mask.numpy()[..., None]
    np.testing.assert_allclose(
        decoder.loss(x, mask, condition, training=True), nll + 0.5 * error.sum() / 24, rtol=1e-10
    )
    with tf.GradientTape() as tape:
        loss = decoder.loss(x, mask, condition, training=True)
    gradients = tape.gradient(loss, decoder.prior.trainable_variables)
    assert all(g is not None for g in gradients)
    with pytest.raises(ValueError, match=r"point_l1 must be a finite number >= 0, got -1"):
        FlowDecoder(4, condition_channels=2, point_l1=-1)
    with pytest.raises(ValueError, match="point_l1=1.0 needs the text prior"):
        FlowDecoder(4, condition_channels=2, text_prior=False, point_l1=1.0)
