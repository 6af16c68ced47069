"""Predict: upload or record a clip; trained models say what it is, and what each modality alone says."""

import _bootstrap  # noqa: F401  (repo root on sys.path: `app` and `dgl_engine` import)
import hashlib

import streamlit as st

from app import predict_charts as charts
from app import show, state
from dgl_engine.api import (
    MAX_UPLOAD_MB, SUPPORTED_AUDIO, SUPPORTED_IMAGE, SUPPORTED_VIDEO, MediaError, PredictError, RunStore,
    SamplesUnavailable, StoreError, load_predictor, playable_video, predict_many, sample_clip, wav_bytes,
)

# MAX_UPLOAD_MB: uploads are read into memory, never saved (the server's maxUploadSize is the same)
VIDEO, AUDIO, IMAGE = ([e.lstrip(".") for e in exts] for exts in (SUPPORTED_VIDEO, SUPPORTED_AUDIO, SUPPORTED_IMAGE))


state.ensure_router()


@st.cache_resource(max_entries=16, show_spinner=False)
def cached_predictor(home: str, run_id: str, method: str, stamp: float):
    return load_predictor(RunStore(home), run_id, method)  # stamp: the checkpoint's mtime


@st.cache_resource(show_spinner=False)
def prediction_cache() -> dict:
    """{(file hashes and names, run, method, checkpoint mtime): Prediction | PredictError |
    MediaError}, shared by the server's sessions, newest last: a widget change reruns the page
    but decodes nothing again, a model added to the comparison is the only one computed, and a
    bad file is not decoded twice."""
    return {}


def predictions(predictors, stamps, data, name, picture_data, picture_name) -> dict:
    """{method: Prediction | PredictError}, from the cache where it has them; MediaError for a
    file that cannot be read."""
    cache, base = prediction_cache(), (digest(data), name, digest(picture_data), picture_name, str(store.home), run_id)
    keys = {p.method: (*base, p.method, stamp) for p, (_, stamp) in zip(predictors, stamps)}
    missing = [p for p in predictors if keys[p.method] not in cache]
    if missing:
        try:  # the missing models together: one decode per sample rate / frame rate
            fresh = predict_many(missing, data, name=name, image=picture_data, image_name=picture_name,
                                 max_bytes=MAX_UPLOAD_MB * 2**20)
        except MediaError as exc:
            fresh = {p.method: exc for p in missing}
        for p in missing:
            cache[keys[p.method]] = fresh[p.method]
        while len(cache) > 8:  # each holds its decoded clip (tens of MB at most)
            cache.pop(next(iter(cache)))
    results = {p.method: cache[keys[p.method]] for p in predictors}
    bad = next((r for r in results.values() if isinstance(r, MediaError)), None)
    if bad is not None:
        raise MediaError(str(bad))  # a new one: re-raising the cached one would grow its traceback
    return results


def digest(data: bytes | None) -> str | None:
    return None if data is None else hashlib.sha256(data).hexdigest()


@st.cache_data(max_entries=8, show_spinner=False)
def cached_video(data: bytes, name: str) -> bytes | None:
    return playable_video(data, name=name, max_bytes=MAX_UPLOAD_MB * 2**20)  # FLV, AVI ... -> MP4


def upload(widget) -> tuple[str, bytes] | None:
    return (widget.name, widget.getvalue()) if widget is not None else None


st.title("Predict")
st.caption("Give a trained model a clip (or a sound and a picture) and see what it says, fused and from each "
           f"modality alone ({charts.ZERO_MODE}).")
store = state.get_engine().store
try:
    runs = [r for r in store.list() if store.models(r["run_id"])]
except (OSError, StoreError) as exc:
    st.error(f"Could not list the runs: {exc}")
    st.stop()
if not runs:
    st.info("No trained models yet: run an experiment; its models appear here when it finishes.")
    state.link("experiment", "Go to Experiment", icon=":material/tune:")
    st.stop()

labels = {r["run_id"]: f"{state.run_label(r)} · models: {', '.join(store.models(r['run_id']))}" for r in runs}
run_id = st.selectbox("Trained run", list(labels), format_func=labels.get, key="predict_run")
trained = store.models(run_id)
methods = st.multiselect("Models (several: compared on the same clip)", trained, key=f"predict_methods_{run_id}",
                         default=[m for m in ("joint", "dgl") if m in trained] or trained[:1])
if not methods:
    st.info("Choose at least one model.")
    st.stop()
try:
    stamps = tuple((m, store.model_path(run_id, m).stat().st_mtime) for m in methods)
    predictors = [cached_predictor(str(store.home), run_id, m, stamp) for m, stamp in stamps]
except (OSError, StoreError) as exc:
    st.error(str(exc))
    st.stop()
st.caption("Inputs are processed as in training: " + "; ".join(p.describe() for p in predictors[:1]))

resets = st.session_state.setdefault("predict_resets", 0)
if st.button("Try a sample from the model's own test split", icon=":material/casino:", key="predict_sample_button"):
    k = st.session_state.get("predict_sample_k", -1) + 1
    try:
        st.session_state["predict_sample"] = (run_id, *sample_clip(store, run_id, k))
        st.session_state["predict_sample_k"] = k
        resets = st.session_state["predict_resets"] = resets + 1  # new keys: the uploaders start empty
    except (SamplesUnavailable, StoreError, MediaError) as exc:
        st.error(str(exc))

mode = st.radio("Input", ["Upload a clip", "Sound + picture", "Record"], horizontal=True, key="predict_mode")
main = picture = None
if mode == "Upload a clip":
    main = upload(st.file_uploader("A video, an audio file or an image", type=VIDEO + AUDIO + IMAGE,
                                   max_upload_size=MAX_UPLOAD_MB, key=f"predict_upload_{resets}"))
elif mode == "Sound + picture":
    left, right = st.columns(2)
    main = upload(left.file_uploader("Sound: an audio file (or a video's sound)", type=AUDIO + VIDEO,
                                     max_upload_size=MAX_UPLOAD_MB, key=f"predict_sound_{resets}"))
    picture = upload(right.file_uploader("Picture: an image", type=IMAGE, max_upload_size=MAX_UPLOAD_MB,
                                         key=f"predict_picture_{resets}"))
else:
    left, right = st.columns(2)
    mic = left.audio_input("Record sound", key=f"predict_mic_{resets}")
    cam = right.camera_input("Take a picture", key=f"predict_cam_{resets}")
    main = ("recording.wav", mic.getvalue()) if mic is not None else None
    picture = ("camera.jpg", cam.getvalue()) if cam is not None else None
if main is None:
    main, picture = picture, None
sample = st.session_state.get("predict_sample")
if main is None and sample and sample[0] == run_id:
    main = sample[1:]
    st.caption(f"Sample clip from the run's test split: {main[0]} (the name is its true class)")
if main is None:
    st.info("Upload a clip or an image, record yourself, or try a sample.")
    st.stop()

name, data = main
picture_name, picture_data = picture if picture else (None, None)
try:
    results = predictions(predictors, stamps, data, name, picture_data, picture_name)
except MediaError as exc:
    st.error(str(exc))
    st.stop()
ok = {m: r for m, r in results.items() if not isinstance(r, PredictError)}
if not ok and len({str(r) for r in results.values()}) == 1:  # the file's fault, not one model's: say it once
    st.error(str(next(iter(results.values()))))
    st.stop()

st.subheader("The input")
left, right = st.columns(2)
with left:
    first = next(iter(ok.values()), None)
    # The decoded picture (shorter side <= 256 px), not the upload's bytes: st.image would
    # decode and resize a 50 Mpx upload again on every rerun.
    shown = first and (first.picture or (first.clip if name.lower().endswith(SUPPORTED_IMAGE) else None))
    if shown is not None and shown.frames is not None:
        st.image(shown.frames[0].numpy(), caption=shown.source)
    else:
        try:
            video = cached_video(data, name)
            if video:
                st.video(video)
        except MediaError as exc:
            st.caption(f"(no preview: {exc})")
with right:
    clip = next((r.clip for r in ok.values()), None)
    if clip is not None and clip.waveform is not None:
        st.audio(wav_bytes(clip.waveform, clip.sample_rate), format="audio/wav")
        spec = predictors[0].audio_spec
        st.caption(f"As the model hears it: {clip.sample_rate} Hz mono; it listens to {spec.clip_seconds:g} s (the centre).")
    if clip is not None:
        st.caption(clip.summary())

heard = next((r for r in ok.values() if r.spectrogram is not None), None)
seen = next((r for r in ok.values() if r.frames is not None), None)
if heard or seen:
    st.subheader("What the model saw")
if heard:
    spec = next(p.audio_spec for p in predictors if p.method == heard.method)
    show.chart(charts.spectrogram_figure(heard.spectrogram.numpy(), spec.sample_rate, spec.hop_length, spec.kind))
if seen:
    t, _, size, _ = seen.frames.shape
    st.image(charts.frames_strip(seen.frames.numpy()), caption=f"{t} frame{'s' if t > 1 else ''}, {size}x{size} px (before normalisation)")

def result_dataset(result) -> str:
    return next((p.sidecar.get("dataset", "") for p in predictors if p.method == result.method), "")


st.subheader("What the models say")
# A warning every model gives (e.g. "no sound") is said once, above them.
shared_warnings = set.intersection(*(set(r.warnings) for r in ok.values())) if ok else set()
for warning in sorted(shared_warnings):
    st.warning(warning)
for column, (method, result) in zip(st.columns(len(results)), results.items()):
    with column:
        st.markdown(f"#### {method}")
        if isinstance(result, PredictError):
            st.error(str(result))
            continue
        headline, lines = charts.answer_words(result.to_dict(), result_dataset(result))
        st.markdown(f"**{headline}**")
        for line in lines:
            (st.warning if "Out of distribution" in line else st.caption)(line)
        for warning in result.warnings:
            if warning not in shared_warnings:
                st.warning(warning)
        show.chart(charts.probs_figure(result.to_dict()), key=f"predict_probs_{method}")
if len(ok) > 1:
    show.chart(charts.compare_figure({m: r.to_dict() for m, r in ok.items()}), key="predict_compare")
