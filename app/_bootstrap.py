"""Put the repository root on sys.path so pages can ``import app`` and ``import dgl_engine``,
whether they run under ``streamlit run app/main.py`` or alone under AppTest."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
