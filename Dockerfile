# syntax=docker/dockerfile:1
# Build stage: compilers and headers live here only.
FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir .

# Runtime stage: the virtual environment, the migrations, a non-root user. No build tools.
FROM python:3.11-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=8003 \
    LOG_FORMAT=json \
    ALEMBIC_CONFIG=/app/alembic.ini
RUN groupadd --system app && useradd --system --gid app --home-dir /app --shell /usr/sbin/nologin app
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY alembic.ini ./
COPY migrations ./migrations
RUN mkdir -p /app/data && chown app:app /app/data
USER app
EXPOSE 8003
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PORT', '8003')}/health\", timeout=2)"]
# SIGTERM (Docker's default stop signal) drains in-flight requests and the workers, then exits.
STOPSIGNAL SIGTERM
CMD ["case-service", "serve"]
