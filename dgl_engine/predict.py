"""Prediction: a trained model says what a clip is, and what each modality alone says.

    predictor = load_predictor(RunStore(home), run_id, "dgl")
    prediction = predict_file(predictor, "clip.mp4")           # or bytes with name="clip.mp4"
    prediction = predict_file(predictor, "voice.wav", image="face.jpg")
    prediction.to_dict()  # {"classes", "fused", "audio", "visual", "used", "warnings", ...}

An upload is decoded by ``data/decode.py`` (PyAV, at the model's sample rate and frame rate) and
becomes model inputs through ``data/inputs.clip_to_inputs`` and the training-set
``Normalization``, exactly as the model's training data did, all read from the checkpoint's JSON
sidecar. The checkpoint itself is loaded with ``weights_only=True``.

Answers (probabilities sum to 1):
- ``fused``: the method's own answer from both modalities (multimodal methods only);
- ``audio`` / ``visual``: the *zero mode* unimodal logits, the fused head with the other
  modality's features set to 0 (``f(h_a, 0)``, ``f(0, h_v)``, DGL's unimodal logits); for the
  unimodal methods this is the method's answer;
- ``audio_head`` / ``visual_head`` (methods with unimodal heads of their own: G-Blend, MLB,
  DI-MML): the *head mode*, that head's answer from its modality alone.
A clip with one modality only (no sound, or a still image) is answered through that modality's
unimodal path, with ``fused = None`` and a warning saying so. Every failure is a one-line
``MediaError`` (the file), ``StoreError`` (the run or model) or ``PredictError`` (this model
cannot answer for this input).
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass

import torch

from dgl_engine import compat, limits  # noqa: F401  (compat: before torchaudio, which features imports)
from dgl_engine.data.dataset import Normalization
from dgl_engine.data.decode import DEFAULT_MAX_BYTES, DecodedClip, Source, decode_clip
from dgl_engine.data.features import AudioFeatures, VisualFeatures
from dgl_engine.data.inputs import clip_to_inputs, heard_waveform
from dgl_engine.models.av_model import AVModel
from dgl_engine.prediction import Prediction  # the answer, re-exported for callers of predict
from dgl_engine.sidecar import SidecarError, read_spec
from dgl_engine.shapley import shapley_confidence
from dgl_engine.store import RunStore, StoreError

# An upload longer than this is decoded up to here only (the features use the centre of it).
MAX_SECONDS = limits.MAX_DECODE_SECONDS


class PredictError(ValueError):
    """This model cannot answer for this input; the message is one line saying why."""


# ----------------------------------------------------------------------------- the model


@dataclass(frozen=True, eq=False)
class Predictor:
    """A trained model ready to predict, with how its inputs were made (from its sidecar)."""

    run_id: str
    method: str
    model: AVModel  # eval mode, on the CPU
    modalities: tuple[str, ...]  # what the method reads: ("audio", "visual") or one of them
    classes: tuple[str, ...]
    audio_spec: AudioFeatures
    visual_spec: VisualFeatures
    normalization: Normalization
    sidecar: dict

    @property
    def multimodal(self) -> bool:
        return len(self.modalities) == 2

    @property
    def unimodal_path(self) -> bool:
        """Whether the fusion head can answer from one modality (f(h_a, 0), f(0, h_v))."""
        return hasattr(self.model.fusion_head, "unimodal_logits")

    def describe(self) -> str:
        """One line for the UI, e.g. "dgl: audio 8000 Hz logmel 1.0 s + visual 1 frame 32 px, 6 classes"."""
        a, v = self.audio_spec, self.visual_spec
        parts = []
        if "audio" in self.modalities:
            parts.append(f"audio {a.sample_rate} Hz {a.kind} {a.clip_seconds:g} s")
        if "visual" in self.modalities:
            parts.append(f"visual {v.frames} frame{'s' if v.frames != 1 else ''} {v.size} px at {v.fps:g} fps")
        return f"{self.method}: {' + '.join(parts)}, {len(self.classes)} classes"


def load_predictor(store: RunStore, run_id: str, method: str) -> Predictor:
    """The run's trained ``method`` model, rebuilt from its sidecar, in eval mode on the CPU.

    Raises StoreError (one line) for an unknown run, a method the run has no model for, or a
    checkpoint / sidecar that cannot be used (``sidecar.read_spec`` names the field)."""
    store.read(run_id)  # StoreError "no run ..." for an unknown run
    trained = store.models(run_id)
    if method not in trained:
        have = ", ".join(trained) if trained else "none yet (the run has not finished)"
        raise StoreError(f"run {run_id} has no trained model for method {method!r}; trained: {have}")
    try:
        state, sidecar = store.load_model(run_id, method)  # weights_only=True
    except StoreError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged checkpoint is a one-line error too
        raise StoreError(f"run {run_id}: the {method} model cannot be loaded ({_one_line(exc)})") from exc
    try:  # every field checked (types, limits, the checkpoint's shapes) before anything is built
        spec = read_spec(sidecar, state, method)
    except SidecarError as exc:
        raise StoreError(f"run {run_id}: the {method} model's sidecar: {_one_line(exc)}") from None
    try:
        with torch.device("meta"):  # no random initialisation (half a second for two ResNet-18s):
            model = AVModel(spec.config, spec.num_classes)  # every tensor comes from the checkpoint
            if spec.heads:  # the method's own heads (G-Blend, MLB, DI-MML), with their trained weights
                model.add_heads(spec.heads, 0)
        model.load_state_dict(state, assign=True)
        left = [name for name, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
        if left:
            raise ValueError(f"no tensor for {left[0]}")
    except Exception as exc:  # noqa: BLE001 - another encoder's tensors, missing or extra ones
        raise StoreError(f"run {run_id}: the {method} model does not match its sidecar ({_one_line(exc)[:300]})") from exc
    model = model.to(memory_format=torch.channels_last).eval()
    return Predictor(run_id, method, model, spec.modalities, spec.classes, spec.audio_spec, spec.visual_spec,
                     spec.normalization, sidecar)


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


@contextlib.contextmanager
def single_thread():
    """One intra-op thread for the duration: single-clip work is tiny, and on a busy machine
    torch's spinning worker threads make it many times slower. ``torch.set_num_threads`` is
    per calling thread under OpenMP, so training in another thread is unaffected."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _answer(classes: tuple[str, ...], logits: torch.Tensor) -> dict:
    if not bool(torch.isfinite(logits).all()):  # never "nan%": say so instead
        raise PredictError("the model gave NaN or infinite scores for this input")
    probs = torch.softmax(logits.double().flatten(), 0)
    return {"label": classes[int(probs.argmax())], "probs": [float(p) for p in probs]}


def decode(predictor: Predictor, source: Source, *, name: str | None = None,
           max_bytes: int | None = DEFAULT_MAX_BYTES) -> DecodedClip:
    """Decode a file the way ``predictor``'s training data was: its sample rate and frame rate."""
    return decode_clip(
        source, predictor.audio_spec.sample_rate, predictor.visual_spec.fps, max_seconds=MAX_SECONDS,
        max_bytes=max_bytes, name=name, max_side=predictor.visual_spec.decode_max_side,
    )


def predict_file(
    predictor: Predictor,
    source: Source,
    *,
    name: str | None = None,
    image: Source | None = None,
    image_name: str | None = None,
    max_bytes: int | None = DEFAULT_MAX_BYTES,
) -> Prediction:
    """Predict one clip: a path, or bytes / a binary file with ``name`` (e.g. "clip.mp4").

    ``image``: a second file whose picture is used with the first file's sound (an audio file
    and a photo). Raises MediaError / PredictError with one line; nothing is written."""
    with single_thread():
        clip = decode(predictor, source, name=name, max_bytes=max_bytes)
        picture = None
        if image is not None:
            picture = decode(predictor, image, name=image_name, max_bytes=max_bytes)
        return predict_clip(predictor, clip, picture)


def predict_many(
    predictors: list[Predictor],
    source: Source,
    *,
    name: str | None = None,
    image: Source | None = None,
    image_name: str | None = None,
    max_bytes: int | None = DEFAULT_MAX_BYTES,
) -> dict[str, Prediction | PredictError]:
    """Several models on the same input, decoding once per distinct sample rate / frame rate:
    {method: Prediction, or the PredictError saying why that model cannot answer}. A file that
    cannot be read raises MediaError (it concerns every model)."""
    decoded: dict[tuple, tuple[DecodedClip, DecodedClip | None]] = {}
    out: dict[str, Prediction | PredictError] = {}
    with single_thread():
        for p in predictors:
            key = (p.audio_spec.sample_rate, p.visual_spec.fps, p.visual_spec.decode_max_side)
            if key not in decoded:
                clip = decode(p, source, name=name, max_bytes=max_bytes)
                picture = decode(p, image, name=image_name, max_bytes=max_bytes) if image is not None else None
                decoded[key] = (clip, picture)
            try:
                out[p.method] = predict_clip(p, *decoded[key])
            except PredictError as exc:
                out[p.method] = exc
    return out


def predict_clip(predictor: Predictor, clip: DecodedClip, image: DecodedClip | None = None) -> Prediction:
    """Predict from an already decoded clip (decoded with ``decode``), optionally with the
    picture of a second one."""
    a_spec, v_spec = predictor.audio_spec, predictor.visual_spec
    if clip.sample_rate != a_spec.sample_rate or (image is not None and image.sample_rate != a_spec.sample_rate):
        raise ValueError(f"{clip.source}: decoded at {clip.sample_rate} Hz, the model expects {a_spec.sample_rate} Hz")
    warnings = list(clip.warnings)
    source = clip.source
    waveform, frames = clip.waveform, clip.frames
    if image is not None:
        source = f"{clip.source} + {image.source}"
        warnings += [f"{image.source}: {w}" for w in image.warnings]
        if image.frames is None:
            raise PredictError(f"{image.source}: no picture in it to use as the image")
        if frames is not None:
            warnings.append(f"the picture of {image.source} is used instead of the video of {clip.source}")
        frames = image.frames
        # The clip's own "no video stream: audio only" no longer applies.
        warnings = [w for w in warnings if not w.endswith(": audio only") or w.startswith(f"{image.source}:")]
    if clip.duration >= MAX_SECONDS - 1e-3:
        warnings.append(f"long clip: only its first {MAX_SECONDS:g} s were decoded")
    if waveform is not None and waveform.numel() < a_spec.n_fft:
        have, need = waveform.numel() / a_spec.sample_rate, a_spec.n_fft / a_spec.sample_rate
        if frames is None or "visual" not in predictor.modalities:
            raise PredictError(f"{clip.source}: {have:.3f} s of sound, shorter than one spectrogram frame ({need:.3f} s)")
        warnings.append(f"sound shorter than one spectrogram frame ({have:.3f} s): ignored")
        waveform = None

    # Present as clip_to_inputs sees it: samples / frames to make features from.
    present = {"audio": waveform is not None and waveform.numel() > 0,
               "visual": frames is not None and frames.shape[0] > 0}
    used = tuple(m for m in predictor.modalities if present[m])
    if not used:  # a unimodal model whose modality the file lacks
        (m,) = predictor.modalities
        what = {"audio": "sound (no audio stream)", "visual": "picture (no video stream or image)"}
        raise PredictError(f"{source}: the {predictor.method} model reads {m} only, and this file has no {what[m]}")
    if predictor.multimodal and len(used) == 1 and not predictor.unimodal_path:
        missing = "audio" if not present["audio"] else "visual"
        raise PredictError(f"{source}: no {missing} input, and the {predictor.method} model's "
                           f"{predictor.sidecar['model']['fusion']} fusion head cannot answer from one modality")

    with torch.no_grad(), single_thread():
        # The modalities used become inputs as the model's training data did (then normalised).
        seen = dataclasses.replace(clip, waveform=waveform if "audio" in used else None,
                                   frames=frames if "visual" in used else None)
        spectrogram, picture = clip_to_inputs(seen, a_spec, v_spec)  # (1, F, T), (T, 3, S, S) in [0, 1]
        heard = heard_waveform(seen, a_spec)  # (L,) the samples behind the spectrogram
        model, norm = predictor.model, predictor.normalization
        head = model.fusion_head
        features = {}
        try:
            if "audio" in used:
                features["audio"] = model.encode("audio", norm.audio(spectrogram).unsqueeze(0))  # (1, D_a)
            if "visual" in used:
                features["visual"] = model.encode("visual", norm.visual(picture).unsqueeze(0))  # (1, D_v)
        except RuntimeError as exc:  # inputs the network cannot take (a sidecar that says otherwise)
            raise PredictError(f"{source}: the {predictor.method} model cannot read these inputs "
                               f"({_one_line(exc)[:200]})") from None
        fused = shapley = None
        if len(used) == 2:
            fused = _answer(predictor.classes, fused_logits(predictor, features["audio"], features["visual"]))
            shapley = shapley_confidence(head, features["audio"], features["visual"])
        distances, unusable = out_of_distribution(predictor.sidecar, features)
        warnings += unusable
        per_modality = {}
        if predictor.unimodal_path:
            for m, h in features.items():
                per_modality[m] = _answer(predictor.classes, head.unimodal_logits(m, h))  # zero mode
        own_heads = getattr(model, "heads", None) or {}
        heads = {m: _answer(predictor.classes, model.head_logits(m, h)) for m, h in features.items() if m in own_heads}

    if predictor.multimodal and len(used) == 1:
        (m,) = used
        other = "audio" if m == "visual" else "visual"
        warnings.append(f"no {'sound' if other == 'audio' else 'picture'}: answered from {m} alone "
                        f"(fused head with {other} features set to 0); no fused prediction")
    return Prediction(
        classes=predictor.classes,
        fused=fused,
        audio=per_modality.get("audio"),
        visual=per_modality.get("visual"),
        used=used,
        warnings=tuple(dict.fromkeys(warnings)),
        run_id=predictor.run_id,
        method=predictor.method,
        source=source,
        spectrogram=spectrogram,
        frames=picture,
        waveform=heard,
        sample_rate=a_spec.sample_rate,
        clip=clip,
        picture=image,
        ood=distances,
        shapley=shapley,
        heads=heads,
    )


def fused_logits(predictor: Predictor, h_a: torch.Tensor, h_v: torch.Tensor) -> torch.Tensor:
    """The method's own fused answer (1, C): its ``predict`` (the fusion head for most; MLA's
    entropy-weighted unimodal logits, DI-MML's confidence-weighted mix of its three heads) with the run's
    hyperparameters from the sidecar (the defaults where the sidecar has none or unusable ones)."""
    from dgl_engine.errors import ConfigError
    from dgl_engine.methods import METHODS, create_method

    if predictor.method not in METHODS:
        return predictor.model.fusion_head(h_a, h_v)
    given = predictor.sidecar.get("method_params")
    try:
        method = create_method(predictor.method, given if isinstance(given, dict) else None)
    except ConfigError:
        method = create_method(predictor.method)
    return method.predict(predictor.model, h_a, h_v)


def out_of_distribution(sidecar: dict, features: dict) -> tuple[dict, list[str]]:
    """({modality: score}, warnings) of the input's features against the model's calibration
    (none for models trained before it existed; one warning if the sidecar's is unusable)."""
    from dgl_engine import ood

    calibration = sidecar.get("ood")
    if not isinstance(calibration, dict):
        return {}, []
    out = {}
    try:
        for m, h in features.items():
            if isinstance(calibration.get(m), dict):
                out[m] = ood.score(calibration[m], h)
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError):
        return {}, ["the model's out-of-distribution calibration is unusable: inputs are not checked"]
    return out, []
