"""Put the repository root on sys.path so the entry point and every page can ``import app`` and
``import dgl_engine``. Each of them starts with ``import _bootstrap``.

Streamlit puts the main script's folder on sys.path while a script runs: app/ under
``streamlit run app/main.py`` (also when a fresh server's first request runs a page without
main.py). A page run alone under AppTest gets app/pages/ instead; tests/app/conftest.py adds app/.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
