"""The `paper` preset's training augmentation: seeded, shape-preserving, one crop per clip."""

import torch

from dgl_engine.augment import random_resized_crop_flip


def test_augmentation_is_seeded_and_keeps_shape():
    x = torch.rand(6, 2, 3, 32, 32)
    a = random_resized_crop_flip(x, torch.Generator().manual_seed(0))
    b = random_resized_crop_flip(x, torch.Generator().manual_seed(0))
    c = random_resized_crop_flip(x, torch.Generator().manual_seed(1))
    assert a.shape == x.shape
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert not torch.equal(a, x)


def test_frames_of_one_clip_share_the_crop():
    # Two identical frames in a clip must stay identical after augmentation.
    frame = torch.rand(1, 1, 3, 24, 24)
    clip = frame.expand(1, 2, 3, 24, 24).clone()
    out = random_resized_crop_flip(clip, torch.Generator().manual_seed(3))
    assert torch.equal(out[0, 0], out[0, 1])


def test_full_scale_crop_is_identity_or_mirror():
    x = torch.rand(8, 1, 3, 16, 16)
    out = random_resized_crop_flip(x, torch.Generator().manual_seed(0), scale=(1.0, 1.0), ratio=(1.0, 1.0))
    for i in range(8):
        assert torch.allclose(out[i], x[i], atol=1e-5) or torch.allclose(out[i], x[i].flip(-1), atol=1e-5)
