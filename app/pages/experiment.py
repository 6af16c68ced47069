"""Experiment: choose a dataset subset and methods, then start them in lockstep."""

import sys
from pathlib import Path

if (ROOT := str(Path(__file__).resolve().parents[2])) not in sys.path:
    sys.path.insert(0, ROOT)  # repo root: pages import `app` and `dgl_engine` when run alone too

import streamlit as st

from app import forms, state
from dgl_engine.config import ConfigError, DataConfig, validate
from dgl_engine.data.synthetic import PRESETS
from dgl_engine.methods import METHODS
from dgl_engine.models import ENCODERS, FUSIONS

@st.cache_data(ttl=60, show_spinner="Reading the dataset's layout ...")
def describe(dataset: str, root: str, preset: str, seed: int, classes=(), per_class=None, fraction=1.0):
    data = DataConfig(dataset=dataset, root=root, preset=preset, classes=classes, per_class=per_class, fraction=fraction)
    return forms.describe_dataset(data, seed)


@st.cache_data(max_entries=64, show_spinner="Decoding the clip ...")
def preview(dataset: str, root: str, preset: str, seed: int, clip: str):
    """One clip as the user would see and hear it: (frames list of (H, W, 3) uint8, WAV bytes)."""
    from dgl_engine.data.registry import preview_clip
    from dgl_engine.predict import wav_bytes

    decoded = preview_clip(DataConfig(dataset=dataset, root=root, preset=preset), clip, seed, sample_rate=16000, fps=2.0)
    frames = [f.numpy() for f in decoded.frames[:4]] if decoded.frames is not None else []
    sound = wav_bytes(decoded.waveform, decoded.sample_rate) if decoded.waveform is not None else None
    return frames, sound


state.ensure_router()
state.init_form(forms.FormValues())
engine = state.get_engine()
st.title("Experiment")
st.caption("One dataset subset, one seed, several methods trained in lockstep: same initial weights, same batches "
           "in the same order, so differences come from the method alone. The defaults run in about a minute on a CPU.")

found, problem = forms.discover_datasets()
if problem:
    st.warning(problem)
choices = {"synthetic": "synthetic (built in, generated from the seed)"}
choices.update({f"{d['dataset']}::{d['root']}": d.get("label") or f"{d['dataset']} ({d['root']})" for d in found})

data_col, train_col = st.columns(2, gap="large")
with data_col:
    st.subheader("Data")
    choice = st.selectbox("Dataset", list(choices), format_func=choices.get, key="exp_dataset_choice")
    if choice == "synthetic":
        st.session_state["exp_dataset"], st.session_state["exp_root"] = "synthetic", None
        if st.session_state["exp_preset"] not in PRESETS:
            st.session_state["exp_preset"] = "default"
        st.selectbox("Preset", list(PRESETS), key="exp_preset", on_change=state.apply_preset,
                     help="; ".join(f"{k}: {v}" for k, v in forms.PRESET_NOTES.items()))
        st.caption(forms.PRESET_NOTES.get(st.session_state["exp_preset"], ""))
        audio, visual = st.columns(2)
        for col, m in ((audio, "audio"), (visual, "visual")):
            with col:
                st.markdown(f"**{m.capitalize()}**")
                st.slider("difficulty", 0.0, 1.0, step=0.05, key=f"exp_{m}_difficulty",
                          help="0 = trivially easy cue; 1 = barely learnable (noise, clutter, contrast)")
                st.slider("reliability", 0.0, 1.0, step=0.05, key=f"exp_{m}_reliability",
                          help="fraction of clips whose cue is present; the rest carry no cue")
        st.checkbox("the shape's colour gives the class away (makes vision easy)", key="exp_visual_colour_cue")
        st.markdown("**Subset**")
        c1, c2 = st.columns(2)
        c1.slider("classes", 2, 8, key="exp_num_classes")
        c2.number_input("samples per class", 10, 20000, step=50, key="exp_samples_per_class",
                        help="split 62.5% train, 12.5% validation, 25% test")
        with st.expander("Clips per class and split"):
            st.dataframe(forms.synthetic_counts(st.session_state["exp_num_classes"], st.session_state["exp_samples_per_class"]),
                         hide_index=True)
    else:
        dataset, root = choice.split("::", 1)
        st.session_state["exp_dataset"], st.session_state["exp_root"] = dataset, root
        if st.session_state["exp_preset"] not in ("lab", "paper"):
            st.session_state["exp_preset"] = "lab"
        st.radio("Preprocessing", ["lab", "paper"], key="exp_preset", horizontal=True,
                 help="lab: small enough for a CPU; paper: the official CREMA-D pipeline (257x188 spectrograms, 224 px frames)")
        full = state.safely("read the dataset", describe, dataset, root, st.session_state["exp_preset"],
                            int(st.session_state["exp_seed"]))
        classes = list((full or {}).get("classes") or [])
        st.session_state["exp_classes"] = [c for c in st.session_state["exp_classes"] if c in classes]
        st.markdown("**Subset**")
        st.multiselect("classes (empty = all)", classes, key="exp_classes")
        c1, c2 = st.columns(2)
        c1.number_input("training clips per class (0 = all)", 0, 100000, step=10, key="exp_per_class")
        c2.slider("fraction of each split", 0.05, 1.0, step=0.05, key="exp_fraction")
        subset = full
        if full and (st.session_state["exp_classes"] or st.session_state["exp_per_class"] or st.session_state["exp_fraction"] < 1):
            subset = state.safely("read the subset", describe, dataset, root, st.session_state["exp_preset"],
                                  int(st.session_state["exp_seed"]), tuple(st.session_state["exp_classes"]),
                                  st.session_state["exp_per_class"] or None, float(st.session_state["exp_fraction"]))
        if subset:
            st.caption(f"Clips per class and split in the chosen subset ({subset.get('total', '?')} clips):")
            st.dataframe(forms.counts_frame(subset), hide_index=True)
            for note in subset.get("notes") or ():
                st.caption(note)
            if subset.get("skipped_total") or subset.get("skipped"):
                st.caption(f"{subset.get('skipped_total', len(subset['skipped']))} files skipped (unreadable or unlabelled).")
        if subset and subset.get("previews"):
            with st.expander("Preview a few clips"):
                shown = st.selectbox("class", list(subset["previews"]), key="exp_preview_class")
                for item in subset["previews"].get(shown, [])[:3]:
                    got = state.safely(f"decode {item['clip']}", preview, dataset, root, st.session_state["exp_preset"],
                                       int(st.session_state["exp_seed"]), item["clip"])
                    if got is None:
                        continue
                    frames, sound = got
                    st.caption(f"{item['clip']} ({item.get('split', '?')})")
                    left, right = st.columns([3, 2])
                    if frames:
                        left.image(frames, width=110)
                    if sound:
                        right.audio(sound, format="audio/wav")

with train_col:
    st.subheader("Methods and training")
    st.multiselect("Methods", list(METHODS), key="exp_methods", help="trained in lockstep on the same batches")
    for m in st.session_state["exp_methods"]:
        if m in METHODS:
            st.caption(f"**{m}** ({' + '.join(METHODS[m].modalities)}): {METHODS[m].routing}")
    c1, c2 = st.columns(2)
    c1.selectbox("Encoder", list(ENCODERS), key="exp_encoder", help="tiny: small CNN (CPU); resnet18: from scratch (GPU)")
    c2.selectbox("Fusion", list(FUSIONS), key="exp_fusion",
                 help="concat: W[h_a; h_v] + b (the paper's); sum: W_a h_a + W_v h_v + b")
    if st.session_state["exp_fusion"] == "sum":
        st.caption("With sum fusion, each modality's unimodal logits are its branch's term plus the bias.")
    c1, c2, c3 = st.columns(3)
    c1.number_input("epochs", 1, 1000, key="exp_epochs")
    c2.number_input("batch size", 2, 4096, step=16, key="exp_batch_size")
    c3.number_input("learning rate", 0.0, 10.0, step=0.005, format="%.4f", key="exp_lr")
    c1, c2, c3 = st.columns(3)
    c1.radio("optimizer", ["sgd", "adam"], key="exp_optimizer", horizontal=True)
    c2.number_input("alpha (DGL)", 0.0, 100.0, step=0.5, key="exp_alpha", help="scale of DGL's unimodal losses")
    c3.number_input("alpha (OGM-GE)", 0.0, 10.0, step=0.1, key="exp_ogm_alpha", help="OGM-GE's modulation strength")
    c1, c2 = st.columns(2)
    c1.number_input("seed", 0, 2**31 - 1, key="exp_seed")
    c2.segmented_control("device", ["auto", "cpu", "cuda"], key="exp_device", required=True)
    st.text_input("name (optional)", key="exp_name", max_chars=80)

values = forms.FormValues(**{k: st.session_state[f"exp_{k}"] for k in forms.FormValues.__dataclass_fields__})
config = forms.build_config(values)
try:
    for warning in validate(config):
        st.warning(warning)
except ConfigError:
    pass  # refused, with its reason, when Start is pressed
except Exception:  # noqa: BLE001 - the data registry may be mid-change; Start says what is wrong
    pass

if st.button("Start experiment", key="start", type="primary", icon=":material/play_arrow:"):
    try:
        run_id = engine.submit(config)
    except ConfigError as exc:
        st.error(f"Not started: {exc}")
    except Exception as exc:  # noqa: BLE001
        st.error(f"Not started: {type(exc).__name__}: {exc}")
    else:
        state.watch(run_id)
        st.session_state["exp_started"] = run_id

started = st.session_state.get("exp_started")
if started:
    snap = state.safely("read the run", engine.snapshot, started, since=10**9)
    if snap is not None:
        kind, words = state.status_words(snap)
        st.success(f"Run **{started}**: {words}")
        state.link("live", "Watch it live", icon=":material/monitoring:", run_id=started)
