# Updraft's container image: the one `updraft` binary on Debian 12 slim
# (bash for `shell` tasks, CA certificates), running as a non-root user.
# The same image is the scheduler, the worker, the web UI or `standalone`:
# the command picks (`docker run IMAGE worker`).
#
#   docker build -t updraft .          # compiles in a Rust image (BuildKit)
#
# `--target prebuilt` puts a binary built outside (BINARY_DIR/updraft) into
# the same runtime: CI and the release workflow. BASE_IMAGE swaps Debian's image for a local
# one where no registry can be reached (CI: .ci/compose-images.sh).
ARG RUST_IMAGE=rust:1.95-slim-bookworm
ARG BASE_IMAGE=debian:bookworm-slim

# ---- the runtime, without the binary ---------------------------------------
# checkov:skip=CKV_DOCKER_7: BASE_IMAGE defaults to debian:bookworm-slim (a release, not latest); checkov cannot read an ARG.
FROM ${BASE_IMAGE} AS base
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates tini \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
    && useradd --uid 10001 --user-group --create-home --home-dir /home/updraft updraft \
    && mkdir -p /dags /home/updraft/.updraft \
    && chown updraft:updraft /home/updraft/.updraft
USER 10001:10001
WORKDIR /home/updraft
ENV UPDRAFT_DAGS_FOLDER=/dags \
    UPDRAFT_DATABASE_URL=sqlite:///home/updraft/.updraft/updraft.db
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=15s --retries=3 CMD ["updraft", "db", "check"]
ENTRYPOINT ["tini", "--", "updraft"]
CMD ["standalone", "--bind", "0.0.0.0:8080"]

# ---- a binary built elsewhere ----------------------------------------------
FROM base AS prebuilt
ARG BINARY_DIR=target/image
COPY --chown=0:0 ${BINARY_DIR}/updraft /usr/local/bin/updraft

# ---- compiled here ----------------------------------------------------------
FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p updraft-cli \
    && strip -o /updraft target/release/updraft

FROM base AS runtime
COPY --from=build --chown=0:0 /updraft /usr/local/bin/updraft
