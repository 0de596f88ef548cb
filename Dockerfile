# One image for every streamrec service of docker-compose.yml: the topic set-up, the shopper
# simulator, the stream worker and the event-log sink. The compose file picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Only what the package needs, so that a local .venv or data never enter the image's layers.
# README.m[d] is a pattern so that the build also works while the file does not exist
# (setuptools then only warns that the readme named in pyproject.toml is missing).
COPY pyproject.toml README.m[d] ./
COPY streamrec/ streamrec/
COPY stream/ stream/
COPY producers/ producers/
COPY models/ models/
COPY analysis/ analysis/
RUN pip install .

# Run as an unprivileged user. /data is created here, owned by that user, so a named volume
# mounted on it (the sink's event log) starts writable.
RUN useradd --create-home --uid 10001 streamrec \
    && mkdir -p /data \
    && chown streamrec:streamrec /data
USER streamrec
VOLUME ["/data"]

CMD ["streamrec", "--help"]
