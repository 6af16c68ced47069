"""torchvision and torchaudio on the CPU torch (dgl_engine/compat.py), and a canary that the
venv still holds the CPU build of torch and no CUDA wheels."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import torch

import dgl_engine  # noqa: F401  (the shim runs before torchvision/torchaudio)
from dgl_engine import compat

REPO = Path(__file__).resolve().parents[2]


def test_importing_dgl_engine_then_torchvision_and_torchaudio_works_in_a_fresh_process():
    code = (
        "import json, dgl_engine, torchvision, torchaudio, torch\n"
        "from dgl_engine import compat\n"
        "import torchvision.models, torchaudio.transforms\n"
        "print(json.dumps({'status': compat.STATUS, 'tv': torchvision.__version__, 'ta': torchaudio.__version__}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    # STATUS says what the shim did, for both packages, in a fresh interpreter.
    assert set(result["status"]) == {"torchvision", "torchaudio"}
    assert result["status"]["torchvision"] in ("native extension", "pure-torch nms (compiled extension unavailable)")
    assert result["status"]["torchaudio"] in ("native extension", "pure-torch (compiled extension unavailable)")


def test_status_reports_what_the_shim_did_in_this_process():
    import torchvision  # noqa: F401

    assert set(compat.STATUS) == {"torchvision", "torchaudio"}
    assert all(isinstance(v, str) and v for v in compat.STATUS.values())
    if compat.STATUS["torchvision"].startswith("pure-torch"):
        assert compat._LIBRARIES, "the shim says it defined torchvision::nms but holds no library"
    assert hasattr(torch.ops.torchvision, "nms")


def test_resnet18_forward():
    from torchvision.models import resnet18

    torch.manual_seed(0)
    net = resnet18(weights=None, num_classes=7).eval()
    with torch.no_grad():
        out = net(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 7) and torch.isfinite(out).all()


def test_mel_spectrogram_puts_a_tone_in_the_right_place():
    import torchaudio

    sr = 8000
    t = torch.arange(sr) / sr
    mel = torchaudio.transforms.MelSpectrogram(sample_rate=sr, n_fft=256, hop_length=128, n_mels=40)
    low = mel(torch.sin(2 * torch.pi * 300 * t))
    high = mel(torch.sin(2 * torch.pi * 2500 * t))
    assert low.shape == (40, sr // 128 + 1)
    assert torch.isfinite(low).all() and (low >= 0).all()
    peak_low = int(low.mean(1).argmax())
    peak_high = int(high.mean(1).argmax())
    assert peak_low < peak_high
    # The tone's mel bin: mel scale of 300 Hz / 2500 Hz over [0, 4000] Hz in 40 bands.
    def mel_of(f):
        return 2595 * torch.log10(torch.tensor(1 + f / 700))
    for peak, f in ((peak_low, 300), (peak_high, 2500)):
        expected = float(mel_of(f) / mel_of(4000) * 41) - 1
        assert abs(peak - expected) <= 1.5


def _reference_nms(boxes, scores, threshold):
    """Greedy NMS in plain Python."""
    def iou(a, b):
        w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        inter = w * h
        area = lambda r: (r[2] - r[0]) * (r[3] - r[1])
        return inter / (area(a) + area(b) - inter)

    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    keep = []
    for i in order:
        if all(iou(boxes[i], boxes[k]) <= threshold for k in keep):
            keep.append(i)
    return keep


def test_nms_keeps_the_best_of_overlapping_boxes():
    boxes = torch.tensor(
        [[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [21, 21, 29, 29], [50, 0, 60, 10]], dtype=torch.float32
    )
    scores = torch.tensor([0.9, 0.95, 0.5, 0.6, 0.1])
    # IoU(0, 1) = 81/119 = 0.68; IoU(2, 3) = 64/100 = 0.64; box 4 overlaps nothing.
    assert torch.ops.torchvision.nms(boxes, scores, 0.5).tolist() == [1, 3, 4]
    assert torch.ops.torchvision.nms(boxes, scores, 0.7).tolist() == [1, 0, 3, 2, 4]
    assert torch.ops.torchvision.nms(boxes, scores, 0.65).tolist() == [1, 3, 2, 4]
    assert torch.ops.torchvision.nms(boxes[:0], scores[:0], 0.5).tolist() == []


def test_nms_matches_a_reference_on_random_boxes():
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(60, 2, generator=g) * 50
    wh = torch.rand(60, 2, generator=g) * 20 + 1
    boxes = torch.cat([xy, xy + wh], 1)
    scores = torch.rand(60, generator=g)
    for threshold in (0.1, 0.3, 0.5, 0.8):
        kept = torch.ops.torchvision.nms(boxes, scores, threshold)
        assert kept.dtype == torch.int64
        assert kept.tolist() == _reference_nms(boxes.tolist(), scores.tolist(), threshold)


def test_venv_kept_the_cpu_torch_and_no_cuda_wheels():
    """An unpinned dependency that pulls CUDA torch (GBs of nvidia-* wheels) fails here."""
    assert torch.__version__.endswith("+cpu") or torch.version.cuda is None, torch.__version__
    names = sorted({(d.metadata["Name"] or "").lower() for d in importlib.metadata.distributions()})
    assert "torch" in names
    cuda = [n for n in names if n.startswith("nvidia-") or n.startswith("nvidia_")]
    assert cuda == [], f"CUDA packages installed: {cuda}"
