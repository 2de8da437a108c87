# presswatch in a container. Build from the repository root:
#   docker build -t presswatch .
# Everything it keeps is in /data (a volume): the config /data/presswatch.yaml and the
# database beside it. docs/operations.md, "Running it in Docker", has the first-run steps.
ARG PYTHON_VERSION=3.11

# --- build: a virtualenv with presswatch and its dependencies (all from wheels) ---
FROM python:${PYTHON_VERSION}-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/presswatch
COPY pyproject.toml README.md /src/
COPY config /src/config
COPY crawler /src/crawler
COPY scheduler /src/scheduler
RUN /opt/presswatch/bin/pip install /src

# --- run: the virtualenv on a clean base, as an unprivileged user ---
FROM python:${PYTHON_VERSION}-slim
LABEL org.opencontainers.image.title="presswatch" \
      org.opencontainers.image.description="Media-monitoring daemon: feeds and sites to deduplicated stories, keyword rules and exactly-once alerts" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /opt/presswatch /opt/presswatch
RUN useradd --system --user-group --uid 10001 --home-dir /data --no-create-home --shell /usr/sbin/nologin presswatch \
    && mkdir /data && chown presswatch:presswatch /data && chmod 0750 /data
ENV PATH=/opt/presswatch/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PRESSWATCH_CONFIG=/data/presswatch.yaml \
    PRESSWATCH_HEALTHZ=http://127.0.0.1:9464/healthz
USER presswatch
WORKDIR /data
VOLUME ["/data"]
# The monitor endpoint (/healthz, /metrics). It listens on 127.0.0.1 unless the config
# says monitor.listen: 0.0.0.0:9464; the health check below runs inside the container,
# so it works either way.
EXPOSE 9464
# presswatch stops cleanly on SIGTERM (crawls record their runs, the outbox is kept);
# give it time: docker stop --time 90, or stop_grace_period: 90s in compose.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=1m --timeout=10s --start-period=2m --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['PRESSWATCH_HEALTHZ'], timeout=8)"]
ENTRYPOINT ["presswatch"]
CMD ["run"]
