"""App-layer test setup.

A page run alone under AppTest gets its own folder (app/pages/) on sys.path, where
``streamlit run app/main.py`` puts app/. Put app/ there too, so that a page's first line,
``import _bootstrap``, finds app/_bootstrap.py in tests as it does in the server.
"""

import sys
from pathlib import Path

APP = str(Path(__file__).resolve().parents[2] / "app")
if APP not in sys.path:
    sys.path.append(APP)  # appended: app/'s modules never shadow an installed one
