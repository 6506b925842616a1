# syntax=docker/dockerfile:1
# The hub for real infrastructure: built without the embedded broker (KAFKA_BOOTSTRAP_SERVERS is set).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# The registry, git checkouts and the target directory are build caches: a rebuild after a source
# change recompiles the hub's crates only, not its dependencies.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p wes --no-default-features \
    && cp target/release/wes /usr/local/bin/wes

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/wes --create-home wes
COPY --from=build /usr/local/bin/wes /usr/local/bin/wes
# Not root: the hub needs nothing but its data directory and an unprivileged port.
USER wes
WORKDIR /var/lib/wes
VOLUME ["/var/lib/wes"]
EXPOSE 8080
ENTRYPOINT ["wes"]
CMD ["serve"]
