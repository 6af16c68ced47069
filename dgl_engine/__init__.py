"""DGL Lab's engine: everything that computes (data, models, methods, trainer, engine, store).

``compat`` is imported first so torchvision and torchaudio load on a CPU-only torch.
The engine never imports streamlit or plotly.
"""

from dgl_engine import compat  # noqa: F401  (must precede torchvision/torchaudio)

__version__ = "0.1.0"
