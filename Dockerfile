# Build: the Swift toolchain image; run: a slim Debian with the four system libraries. The
# image runs either way: the embedded SQLite file in /data (the default), or PostgreSQL with
# CCLOAD_DATABASE_URL and CCLOAD_SECRET_KEY (deploy/compose.yaml: two instances, haproxy).
FROM swift:6.1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libssl-dev libsqlite3-dev libpq-dev zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Plugins ./Plugins
COPY Benchmarks ./Benchmarks
COPY Tests ./Tests
RUN swift build -c release --product ccload --static-swift-stdlib \
    && cp "$(swift build -c release --show-bin-path)/ccload" /ccload

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libssl3 libsqlite3-0 libpq5 zlib1g ca-certificates \
    && rm -rf /var/lib/apt/lists/* && useradd --system --home /data ccload && mkdir -p /data && chown ccload /data
COPY --from=build /ccload /usr/local/bin/ccload
USER ccload
WORKDIR /data
ENV PORT=8080
EXPOSE 8080
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/ccload"]
