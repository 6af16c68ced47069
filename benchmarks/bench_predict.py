"""Time to predict one ~2 s clip from its file: decode (PyAV) + features + model, on the CPU.

Run from the repository root: ``.venv/bin/python benchmarks/bench_predict.py``. Prints the
median of several runs per clip, for the lab setup (tiny encoders, 8 kHz log-mel, 32 px) and a
paper-like one (ResNet-18, 22.05 kHz 3 s STFT, 224 px), with one intra-op thread (what
``predict_file`` uses) and with torch's default thread count. Models are untrained (weights do
not change the time). Target: under 0.5 s per clip. Real clips come from ../shared/data.
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from dgl_engine import predict  # noqa: E402
from dgl_engine.data.dataset import Normalization  # noqa: E402
from dgl_engine.data.features import AudioFeatures, VisualFeatures  # noqa: E402
from dgl_engine.data.synthetic import AUDIO_SPEC, VISUAL_SPEC, class_names  # noqa: E402
from dgl_engine.models.av_model import build_model  # noqa: E402
from dgl_engine.config import ModelConfig  # noqa: E402
from dgl_engine.store import RunStore  # noqa: E402

DATA = REPO.parent / "shared" / "data"
CLIPS = [DATA / "clips" / "example2.mp4", DATA / "cremad" / "VideoFlash" / "1001_DFA_NEU_XX.flv"]
RUNS = 7

SETUPS = {
    "lab (tiny, 8 kHz logmel 1 s, 32 px)": (ModelConfig("tiny"), AUDIO_SPEC, VISUAL_SPEC),
    "paper-like (resnet18, 22.05 kHz logstft 3 s, 224 px)": (
        ModelConfig("resnet18"),
        AudioFeatures(sample_rate=22050, clip_seconds=3.0, kind="logstft", n_fft=512, hop_length=353),
        VisualFeatures(frames=1, fps=1.0, size=224),
    ),
}


def _store_with_model(home: Path, name: str, model_config, audio_spec, visual_spec) -> RunStore:
    store = RunStore(home)
    store.create({}, run_id=name, status="finished")
    classes = class_names(6)
    model = build_model(model_config, len(classes), seed=0)
    norm = Normalization(0.0, 1.0, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    sidecar = {"method": "dgl", "modalities": ["audio", "visual"], "classes": list(classes),
               "model": {"encoder": model_config.encoder, "fusion": model_config.fusion, "num_classes": len(classes)},
               "audio_features": audio_spec.to_dict(), "visual_features": visual_spec.to_dict(),
               "normalization": norm.to_dict()}
    store.save_model(name, "dgl", model.state_dict(), sidecar)
    return store


def _median_s(fn) -> float:
    fn()  # warm-up: codec init, spectrogram transform construction, first convolutions
    times = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    default_threads = torch.get_num_threads()
    print(f"median of {RUNS} runs; torch default intra-op threads: {default_threads}")
    clips = [c for c in CLIPS if c.exists()]
    if not clips:
        print(f"no clips: {DATA} not present")
        return
    with tempfile.TemporaryDirectory() as tmp:
        for k, (label, (model_config, audio_spec, visual_spec)) in enumerate(SETUPS.items()):
            store = _store_with_model(Path(tmp), f"bench{k}", model_config, audio_spec, visual_spec)
            t0 = time.perf_counter()
            predictor = predict.load_predictor(store, f"bench{k}", "dgl")
            print(f"\n{label}: load_predictor {time.perf_counter() - t0:.3f} s")
            for clip in clips:
                data = clip.read_bytes()
                one = _median_s(lambda: predict.predict_file(predictor, data, name=clip.name))
                decode = _median_s(lambda: predict.decode(predictor, data, name=clip.name))
                saved = predict.single_thread
                predict.single_thread = contextlib.nullcontext  # torch's default threads instead
                try:
                    default = _median_s(lambda: predict.predict_file(predictor, data, name=clip.name))
                finally:
                    predict.single_thread = saved
                print(f"  {clip.name:<24} predict_file {one:6.3f} s (decode {decode:6.3f} s)   "
                      f"with {default_threads} threads: {default:6.3f} s   "
                      f"{'OK' if one < 0.5 else 'OVER'} (target < 0.5 s)")


if __name__ == "__main__":
    main()
