# markwatch: crawler worker / scheduler image (docs/scaling.md).
# Debian bookworm, Debian's own Chromium, an unprivileged user, tini as init (reaps Chromium's
# children and forwards SIGTERM to the whole process group, so a worker and its per-run child
# stop cleanly; leases they held return to the queue when they expire).
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends chromium tini fonts-dejavu-core ca-certificates \
 && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 markwatch \
 && useradd --system --uid 10001 --gid markwatch --home-dir /home/markwatch --create-home markwatch

WORKDIR /opt/markwatch
COPY pyproject.toml setup.py README.md LICENSE scrapy.cfg ./
COPY crawler ./crawler
COPY spiders ./spiders
COPY storage ./storage
RUN pip install --no-cache-dir . && rm -rf /root/.cache

ENV MARKWATCH_CHROMIUM=/usr/bin/chromium \
    MARKWATCH_PROGRESS=off \
    PYTHONUNBUFFERED=1
USER 10001:10001
WORKDIR /home/markwatch
ENTRYPOINT ["/usr/bin/tini", "-g", "--", "markwatch"]
CMD ["worker", "--metrics-port", "9410", "--metrics-host", "0.0.0.0", "--log-format", "json"]
