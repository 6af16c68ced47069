"""Experiment: choose a dataset subset and methods, then start them in lockstep.

Every setting is a schema leaf drawn by ``app/widgets.py``; ``forms.build_config`` turns the
values into the config the engine checks when Start is pressed.
"""

import _bootstrap  # noqa: F401  (repo root on sys.path)
import streamlit as st

from app import forms, state, widgets
from dgl_engine.api import (
    FAMILIES, METHODS, REGIMES, ConfigError, DataConfig, describe_dataset, describe_error, discover_datasets,
    estimate_seconds, preview_clip, sweep_keys, validate, wav_bytes,
)


@st.cache_data(ttl=60, show_spinner="Reading the dataset's layout ...")
def describe(dataset: str, root: str, preprocessing: str, seed: int, classes=(), per_class=None, fraction=1.0,
             val_fraction=0.1):
    data = DataConfig(dataset=dataset, root=root, preprocessing=preprocessing, classes=classes, per_class=per_class,
                      fraction=fraction, val_fraction=val_fraction)
    return describe_dataset(data, seed)


@st.cache_data(max_entries=64, show_spinner="Decoding the clip ...")
def preview(dataset: str, root: str, preprocessing: str, seed: int, clip: str):
    """One clip as the user would see and hear it: (frames list of (H, W, 3) uint8, WAV bytes)."""
    decoded = preview_clip(DataConfig(dataset=dataset, root=root, preprocessing=preprocessing), clip, seed,
                           sample_rate=16000, fps=2.0)
    frames = [f.numpy() for f in decoded.frames[:4]] if decoded.frames is not None else []
    sound = wav_bytes(decoded.waveform, decoded.sample_rate) if decoded.waveform is not None else None
    return frames, sound


def apply_regime() -> None:
    """Move the synthetic sliders to the chosen regime's values."""
    for key, value in forms.regime_values(st.session_state[forms.key("data.regime")]).items():
        st.session_state[key] = value


def apply_protocol() -> None:
    """Move the settings a protocol sets to its values (back to the lab defaults for lab)."""
    for key, value in forms.protocol_values(st.session_state[forms.key("protocol")]).items():
        st.session_state[key] = value


def real_subset(dataset: str, root: str) -> None:
    """Protocol, preprocessing, subset widgets, counts and previews of a real dataset."""
    ss = st.session_state
    by_dataset = forms.REAL_BY_DATASET.get(dataset, ())
    if "protocol" in by_dataset:
        widgets.setting("protocol", on_change=apply_protocol)
        if ss[forms.key("protocol")] == "paper":
            st.warning(forms.PROTOCOL_COST)
    widgets.setting("data.preprocessing", options=["lab", "paper", "paper-exact"],
                    help="lab: small enough for a CPU; paper: the official CREMA-D pipeline (257x188 spectrograms, "
                         "224 px frames); paper-exact: the same as the official loader does it (first 3 s, first frame, "
                         "the whole frame squashed at test and cropped in training)")
    preprocessing, seed = ss[forms.key("data.preprocessing")], int(ss[forms.key("seed")])
    val_fraction = float(ss[forms.key("data.val_fraction")])
    full = state.safely("read the dataset", describe, dataset, root, preprocessing, seed, val_fraction=val_fraction)
    classes = list((full or {}).get("classes") or [])
    ss[forms.key("data.classes")] = [c for c in ss[forms.key("data.classes")] if c in classes]
    st.markdown("**Subset**")
    widgets.setting("data.classes", label="classes (empty = all)", options=classes)
    c1, c2 = st.columns(2)
    widgets.setting("data.per_class", c1, label="training clips per class")
    widgets.setting("data.fraction", c2, label="fraction of each split")
    widgets.setting("data.val_fraction", label="validation carved from training (0 = none: curves use the test split)")
    for path in by_dataset:
        if path != "protocol":
            widgets.setting(path)
    chosen = (tuple(ss[forms.key("data.classes")]), ss[forms.key("data.per_class")] or None, float(ss[forms.key("data.fraction")]))
    subset = full
    if full and (chosen[0] or chosen[1] or chosen[2] < 1):
        subset = state.safely("read the subset", describe, dataset, root, preprocessing, seed, *chosen,
                              val_fraction=val_fraction)
    if not subset:
        return
    st.caption(f"Clips per class and split in the chosen subset ({subset.get('total', '?')} clips):")
    st.dataframe(forms.counts_frame(subset), hide_index=True)
    for note in subset.get("notes") or ():
        st.caption(note)
    if subset.get("skipped_total"):
        st.caption(f"{subset['skipped_total']} files skipped (unreadable or unlabelled).")
    if subset.get("previews"):
        with st.expander("Preview a few clips"):
            shown = st.selectbox("class", list(subset["previews"]), key="exp_preview_class")
            for item in subset["previews"].get(shown, [])[:3]:
                got = state.safely(f"decode {item['clip']}", preview, dataset, root, preprocessing, seed, item["clip"])
                if got is None:
                    continue
                frames, sound = got
                st.caption(f"{item['clip']} ({item.get('split', '?')})")
                left, right = st.columns([3, 2])
                if frames:
                    left.image(frames, width=110)
                if sound:
                    right.audio(sound, format="audio/wav")


def synthetic_subset() -> None:
    ss = st.session_state
    widgets.setting("data.regime", options=list(REGIMES), on_change=apply_regime,
                    help="; ".join(f"{k}: {v}" for k, v in forms.REGIME_NOTES.items()))
    st.caption(forms.REGIME_NOTES.get(ss[forms.key("data.regime")], ""))
    audio, visual = st.columns(2)
    for col, m in ((audio, "audio"), (visual, "visual")):
        col.markdown(f"**{m.capitalize()}**")
        widgets.setting(f"data.synthetic.{m}.difficulty", col, label="difficulty")
        widgets.setting(f"data.synthetic.{m}.reliability", col, label="reliability")
    widgets.setting("data.synthetic.visual_colour_cue", label="the shape's colour gives the class away (makes vision easy)")
    st.markdown("**Subset**")
    c1, c2 = st.columns(2)
    widgets.setting("data.synthetic.num_classes", c1, label="classes")
    widgets.setting("data.synthetic.samples_per_class", c2)
    with st.expander("Clips per class and split"):
        st.dataframe(forms.synthetic_counts(ss[forms.key("data.synthetic.num_classes")],
                                            ss[forms.key("data.synthetic.samples_per_class")]), hide_index=True)
    with st.expander("More synthetic settings"):
        for path in forms.SYNTHETIC_ADVANCED:
            widgets.setting(path)


widgets.init_form()
engine = state.get_engine()
shared = st.query_params.get("exp")
if shared and st.session_state.get("exp_shared_applied") != shared:  # a lab sheet's link: fill the form once
    st.session_state["exp_shared_applied"] = shared
    try:
        for key, value in forms.from_share_token(shared).items():
            st.session_state[key] = value
        st.success("The form holds the settings of the link you opened: press Start, or change what the lab sheet says.")
    except ConfigError as exc:
        st.error(f"The link's settings were not used: {exc}")
st.title("Experiment")
st.caption("One dataset subset, one seed, several methods trained in lockstep: same initial weights, same batches "
           "in the same order, so differences come from the method alone.")

found, problem = discover_datasets()
if problem:
    st.warning(problem)
choices = {"synthetic": "synthetic (built in, generated from the seed)"}
choices.update({f"{d['dataset']}::{d['root']}": d.get("label") or f"{d['dataset']} ({d['root']})" for d in found})

data_col, train_col = st.columns(2, gap="large")
with data_col:
    st.subheader("Data")
    choice = st.selectbox("Dataset", list(choices), format_func=choices.get, key="exp_dataset_choice")
    dataset, root = ("synthetic", None) if choice == "synthetic" else choice.split("::", 1)
    if dataset == "synthetic":
        synthetic_subset()
    else:
        real_subset(dataset, root)

with train_col:
    st.subheader("Methods and training")
    widgets.setting("methods", options=list(METHODS), help="trained in lockstep on the same batches")
    chosen_methods = [m for m in st.session_state[forms.key("methods")] if m in METHODS]
    for family in FAMILIES:
        mine = [m for m in chosen_methods if METHODS[m].family == family]
        if mine:
            st.caption(f"*{family}*  \n" + "  \n".join(
                f"**{m}** ({' + '.join(METHODS[m].modalities)}): {METHODS[m].routing}" for m in mine))
    with st.expander("Every method, by family"):
        for family in FAMILIES:
            members = [m for m in METHODS if METHODS[m].family == family]
            if members:
                st.markdown(f"**{family}**: " + ", ".join(f"`{m}`" for m in members))
    widgets.method_params(chosen_methods)
    c1, c2 = st.columns(2)
    widgets.setting("model.encoder", c1)
    widgets.setting("model.fusion", c2)
    if st.session_state[forms.key("model.fusion")] == "sum":
        st.caption("With sum fusion, each modality's unimodal logits are its branch's term plus the bias.")
    c1, c2, c3 = st.columns(3)
    widgets.setting("train.epochs", c1)
    widgets.setting("train.batch_size", c2)
    widgets.setting("train.lr", c3)
    c1, c2 = st.columns(2)
    widgets.setting("train.optimizer", c1)
    widgets.setting("seed", c2)
    st.segmented_control("device", ["auto", "cpu", "cuda"], key=forms.key("device"), required=True)
    widgets.setting("name", label="name (optional)")
    with st.expander("More training settings"):
        for path in forms.TRAINING_ADVANCED:
            widgets.setting(path)

values = {k: v for k, v in st.session_state.items() if str(k).startswith("exp_")}
config = None
try:
    config = forms.build_config(values, dataset, root)
    for warning in validate(config):
        st.warning(warning)
    minutes = estimate_seconds(config, home=state.home()) / 60
    estimate = f"about {minutes:.0f} minutes" if minutes >= 1.5 else f"about {max(5, round(minutes * 60, -1)):.0f} s"
    st.caption(f"These settings should take {estimate} on a CPU (measured step costs, scaled by how fast this "
               "server ran its recent runs; much less on a GPU), plus the time to decode a real dataset's clips the first time.")
    if minutes > 10:
        st.warning(f"This run would take about {minutes:.0f} minutes: fewer clips, epochs or methods make it shorter.")
except ConfigError:
    pass  # refused, with its reason, when Start is pressed

if dataset == "synthetic":
    with st.expander("Share these settings"):
        st.caption("A link that opens this form with these settings (for a lab sheet). Copy it:")
        page_url = (st.context.url or "").split("?")[0]  # this page's address as the browser sees it
        st.code(f"{page_url}?exp={forms.share_token(values)}", language=None)
# A study: the same experiment over several seeds, optionally sweeping one setting (Studies page).
with st.expander("Repeat over seeds, or sweep one setting (a study)"):
    c1, c2, c3 = st.columns([1, 2, 2])
    c1.number_input("seeds", 1, 20, 1, key="study_seeds", help="one run per seed: seed, seed + 1, ...")
    c2.selectbox("sweep", ["", *sweep_keys(config or forms.DEFAULTS)], key="study_sweep_key",
                 format_func=lambda k: k or "nothing", help="a numeric setting or a method's hyperparameter")
    c3.text_input("values", key="study_sweep_values", placeholder="e.g. 1,2,4", help="comma-separated")

if st.button("Start experiment", key="start", type="primary", icon=":material/play_arrow:"):
    ss = st.session_state
    try:
        if config is None:
            config = forms.build_config(values, dataset, root)
        study = forms.study_from(config, ss["study_seeds"], ss["study_sweep_key"], ss["study_sweep_values"])
        started = engine.submit_study(study, owner=state.owner()) if study else engine.submit(config, owner=state.owner())
    except ConfigError as exc:
        st.error(f"Not started: {exc}")
    except Exception as exc:  # noqa: BLE001 - a full disk, an unreadable root ...: one line
        st.error(f"Not started: {describe_error(exc)}")
    else:
        ss["exp_started"], ss["exp_study_started"] = (None, started) if study else (started, None)
        if study:
            st.session_state["study_id"] = started
            state.go("studies", study_id=started)  # a study opens on Studies, as a run opens on Live
        else:
            state.watch(started)
            state.go("live", started)  # Start opens the run on Live

if st.session_state.get("exp_study_started"):
    st.success(f"Study **{st.session_state['exp_study_started']}** queued: one run per seed and value.")
    state.link("studies", "Follow it on Studies", icon=":material/stacked_line_chart:", study_id=st.session_state["exp_study_started"])

started = st.session_state.get("exp_started")
if started:
    snap = state.safely("read the run", engine.snapshot, started, since=10**9)
    if snap is not None:
        kind, words = state.status_words(snap)
        st.success(f"Run **{started}**: {words}")
        state.link("live", "Watch it live", icon=":material/monitoring:", run_id=started)
