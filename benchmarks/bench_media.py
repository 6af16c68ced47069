"""Time to turn a ~2 s clip into model inputs (decode + features), with the lab's default specs.

Run from the repository root: ``.venv/bin/python benchmarks/bench_media.py``. Prints figures
only; the real clips come from ../shared/data.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dgl_engine.data.decode import decode_clip  # noqa: E402
from dgl_engine.data.features import AudioFeatures, VisualFeatures  # noqa: E402
from dgl_engine.data.inputs import clip_to_inputs, load_inputs  # noqa: E402

DATA = REPO.parent / "shared" / "data"
CLIPS = [DATA / "cremad" / "VideoFlash" / "1001_DFA_NEU_XX.flv", DATA / "clips" / "example2.mp4"]
RUNS = 5


def _mean_ms(fn) -> float:
    fn()  # warm-up: first-call costs (spectrogram transform construction, codec init)
    start = time.perf_counter()
    for _ in range(RUNS):
        fn()
    return (time.perf_counter() - start) / RUNS * 1000


def main() -> None:
    import torch

    audio_spec, visual_spec = AudioFeatures(), VisualFeatures()
    print(f"specs: {audio_spec.sample_rate} Hz logmel {audio_spec.shape}, "
          f"visual {visual_spec.shape} at {visual_spec.fps} fps; mean of {RUNS} runs")
    # Torch's intra-op threads matter: on a busy 2-core machine, 2 threads made these tiny
    # spectrogram / resize ops ~100x slower than 1 thread (spin-waiting workers).
    for threads in sorted({1, torch.get_num_threads()}):
        torch.set_num_threads(threads)
        print(f"torch threads: {threads}")
        for path in CLIPS:
            if not path.exists():
                print(f"  {path.name}: missing ({DATA} not present)")
                continue
            clip = decode_clip(path, audio_spec.sample_rate, visual_spec.fps)
            total = _mean_ms(lambda: load_inputs(path, audio_spec, visual_spec))
            decode = _mean_ms(lambda: decode_clip(path, audio_spec.sample_rate, visual_spec.fps))
            feats = _mean_ms(lambda: clip_to_inputs(clip, audio_spec, visual_spec))
            print(f"  {clip.summary()}\n    load_inputs {total:7.1f} ms  (decode {decode:6.1f} ms, "
                  f"features {feats:5.1f} ms)")


if __name__ == "__main__":
    main()
