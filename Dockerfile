# The hub for real infrastructure: built without the embedded broker (KAFKA_BOOTSTRAP_SERVERS is set).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p wes --no-default-features

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/wes /usr/local/bin/wes
RUN mkdir -p /var/lib/wes
EXPOSE 8080
ENTRYPOINT ["wes"]
CMD ["serve"]
