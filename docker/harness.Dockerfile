# The ak-e2e harness: the binary, the suite, the blueprints and the compose configuration.
# Build from the repository root: docker build -f docker/harness.Dockerfile .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p ak-e2e

FROM debian:bookworm-slim
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --create-home ak-e2e \
    && mkdir -p /reports \
    && chown ak-e2e /reports
WORKDIR /ak-e2e
COPY --from=build /src/target/release/ak-e2e /usr/local/bin/ak-e2e
COPY ak-e2e.yaml ./
COPY compose ./compose
COPY blueprints ./blueprints
COPY scenarios ./scenarios
USER 10001
ENTRYPOINT ["ak-e2e"]
CMD ["run"]
