# The mock ChatGPT relying party and the authentik stand-in, as binaries.
# Build from the repository root: docker build -f docker/mocks.Dockerfile .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p chatgpt-rp -p authentik-standin --bins

FROM debian:bookworm-slim
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 mock
COPY --from=build /src/target/release/mock-chatgpt /usr/local/bin/mock-chatgpt
COPY --from=build /src/target/release/authentik-standin /usr/local/bin/authentik-standin
COPY blueprints /blueprints
USER 10001
EXPOSE 8080
ENTRYPOINT ["mock-chatgpt"]
CMD ["--listen", "0.0.0.0:8080"]
