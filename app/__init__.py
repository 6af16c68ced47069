"""DGL Lab's Streamlit app: thin pages over dgl_engine.api, figures from app.charts."""
