"""DGL Lab's Streamlit app: thin pages over dgl_engine, figures from app.charts."""
