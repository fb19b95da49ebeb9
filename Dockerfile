# hubwarden as a GitHub container action (and a plain CLI image:
# `docker run --rm -v "$PWD:/src" IMAGE scan /src`).
#
# Container-action rules (GitHub docs, "Dockerfile support for GitHub Actions"):
# no USER (the runner mounts the workspace and needs root), no WORKDIR (the
# runner sets /github/workspace), exec-form ENTRYPOINT with an absolute path.
# action.yml passes `action` as the argument, which replaces CMD.

# Build: on Alpine the Rust toolchain targets musl, so the binary is static;
# the release workflow exports it (target `binary`) as the Linux download too.
FROM rust:1.95-alpine3.23 AS build
RUN apk add --no-cache gcc~15 musl-dev~1.2
COPY . /src
RUN cargo build --release --locked --manifest-path /src/Cargo.toml \
    && cp /src/target/release/hubwarden /hubwarden \
    && /hubwarden --version

# `docker buildx build --target binary --output type=local,dest=dist .`
FROM scratch AS binary
COPY --from=build /hubwarden /hubwarden

# Runtime: Alpine for git (needed by `diff-base`) and the CA bundle that the
# base image already ships. About 8 MB base + 20 MB git and its libraries.
FROM alpine:3.23
RUN apk add --no-cache git~2.52
COPY --from=build /hubwarden /usr/local/bin/hubwarden
LABEL org.opencontainers.image.title="hubwarden" \
      org.opencontainers.image.description="Finds model-hub loads that execute remote code, fetches the exact remote files without running them, scans them and reports SARIF." \
      org.opencontainers.image.source="https://github.com/hubwarden/hubwarden" \
      org.opencontainers.image.licenses="Apache-2.0"
ENTRYPOINT ["/usr/local/bin/hubwarden"]
CMD ["action"]
