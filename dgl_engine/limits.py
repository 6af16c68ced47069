"""Every bound on what a file, a record or a model sidecar may cost, in one place.

A hostile or merely odd file (two video frames ten minutes apart, a 12000 x 12000 PNG of a few
hundred KB, a 1 Hz WAV, a float WAV full of NaN) must get a one-line answer at a bounded cost,
whether it arrives as an upload, a dataset clip or a preview. The decoder (``data/decode.py``,
``data/demux.py``), the sidecar check (``sidecar.py``), the run store and the app read their
bounds from here; the README's "Limits" section lists each of them (a test checks it does).

Numbers are chosen so that no real file we know of comes near them: CREMA-D, AVE, Kinetics and
FSDD clips are 1-10 s long, a 4K frame is 8.8 Mpx, a 48 Mpx phone photo is under 50 Mpx.
With them, predicting on any file stays within ``PREDICT_TARGET_SECONDS`` and
``PREDICT_TARGET_BYTES`` on a 2-core CPU (``benchmarks/bench_limits.py`` measures it).
"""

from __future__ import annotations

# ----- files -------------------------------------------------------------------------------------
MAX_FILE_BYTES = 200 * 2**20  # a media file decoded by the CLI, a dataset or a preview
MAX_UPLOAD_MB = 50  # an upload on the Predict page (read into memory); .streamlit/config.toml says the same

# ----- decoding one clip (datasets, previews and uploads alike) ---------------------------------
MAX_DECODE_SECONDS = 60.0  # of sound and of pictures; a longer clip is decoded up to here (warning)
MAX_KEPT_FRAMES = 128  # pictures kept per clip once sampled at the model's frame rate
MAX_DECODED_FRAMES = 3000  # source video frames actually decoded per clip (GOPs not needed are skipped)
MAX_DECODED_PIXELS = 500_000_000  # source video pixels decoded per clip (about 540 frames of 720p, 1.2 s here)
MAX_PACKETS = 20_000  # packets read per clip (an honest 60 s clip has a few thousand; each costs ~80 us)
MAX_VIDEO_PIXELS = 10_000_000  # one video frame (4096 x 2160 is 8.8 Mpx); larger is refused
MAX_IMAGE_PIXELS = 50_000_000  # one still image, before decoding (Pillow's own bomb limit is 179 Mpx)
MAX_ASPECT_RATIO = 16  # longer side / shorter side of an image or a video frame; more is refused
MIN_SAMPLE_RATE = 4000  # Hz, of an audio stream; outside [MIN, MAX] is refused
MAX_SAMPLE_RATE = 384_000  # Hz
MAX_CHANNELS = 32  # audio channels (averaged to mono); more is refused
MAX_IDX_BYTES = 64 * 2**20  # an MNIST idx file once decompressed (MNIST's train images: 47 MB)

# ----- a model's sidecar (models/<method>.json): what it may ask the decoder and the model for --
MAX_SIDECAR_BYTES = 2**20  # the JSON file itself
MAX_CHECKPOINT_BYTES = 2**30  # models/<method>.pt (two ResNet-18s: about 90 MB)
MAX_CLASSES = 1000  # classes a model may have
MAX_MODEL_SAMPLE_RATE = 48_000  # Hz a model's features may be computed at (at least MIN_SAMPLE_RATE)
MAX_CLIP_SECONDS = 30.0  # seconds of sound a model listens to
MAX_N_FFT = 8192  # FFT size of the spectrogram
MAX_AUDIO_FEATURES = 2**20  # elements of one (1, F, T) spectrogram (the paper's: 257 x 188)
MAX_FPS = 30.0  # frame rate a model's pictures are sampled at
MAX_MODEL_FRAMES = 16  # frames per clip a model reads
MAX_FRAME_SIZE = 448  # px, side of a model's square frames
MAX_VISUAL_PIXELS = 4 * 224 * 224  # frames x size x size a model reads per clip

# ----- records -------------------------------------------------------------------------------------
MAX_RECORD_BYTES = 16 * 2**20  # a run.json; larger is shown as damaged, not read
RUN_ID_RANDOM_BITS = 48  # random bits in a run id, after its time stamp

# ----- what the bounds above buy: targets measured by benchmarks/bench_limits.py ----------------
PREDICT_TARGET_SECONDS = 5.0  # `python -m dgl_engine predict` on any file, start-up included
PREDICT_TARGET_BYTES = 2**30  # its peak memory (resident set)


def names() -> list[str]:
    """Every bound's name (the README's "Limits" section lists them all)."""
    return [k for k, v in globals().items() if k.isupper() and isinstance(v, (int, float))]
