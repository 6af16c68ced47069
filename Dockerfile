# DGL Lab: the Streamlit app on CPU (following Streamlit's "Deploy with Docker" guide).
#   docker build -t dgl-lab .
#   docker run -p 8501:8501 -v dgl-runs:/data/runs dgl-lab
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# curl for the health check
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# CPU-only torch first (the default PyPI wheel pulls CUDA), then the pinned set the tests use.
COPY requirements.txt .
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
    && pip install -r requirements.txt

COPY . .

# Runs (metrics, models) live in a volume, owned by an unprivileged user.
RUN useradd --create-home --uid 1000 dgl \
    && mkdir -p /data/runs \
    && chown -R dgl:dgl /data/runs
ENV DGL_LAB_HOME=/data/runs
VOLUME /data/runs
USER dgl

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s CMD curl --fail http://localhost:8501/_stcore/health

ENTRYPOINT ["streamlit", "run", "app/main.py", "--server.port=8501", "--server.address=0.0.0.0"]
