# syntax=docker/dockerfile:1
# stetconform in a container: the CLI (the features are embedded in it) and Debian's
# chromium for the browser PSU driver. See README.md, "In a container".
#
#   docker build -t stetconform .
#   docker run --rm -v "$PWD/mybank:/work/bank:ro" -v "$PWD/reports:/work/reports" \
#     -e PSU_PASSWORD stetconform run --bank bank/bank.yaml

# Build stage: a static binary, the version stamped as `make build` does.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/stetconform ./cmd/stetconform

# Runtime: Debian 12, as the project's CI, with the chromium the browser driver drives and
# certutil (libnss3-tools), with which it trusts exactly the bank profile's tls.ca.
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends chromium libnss3-tools ca-certificates fonts-liberation \
 && rm -rf /var/lib/apt/lists/*
# An unprivileged user; /state keeps the tokens that outlive a run (mount a volume there
# to keep them between runs), /work/reports receives the reports.
RUN useradd --uid 10001 --create-home stetconform \
 && mkdir -p /work/reports /state \
 && chown -R stetconform /work /state
COPY --from=build /out/stetconform /usr/local/bin/stetconform
USER stetconform
WORKDIR /work
# XDG_STATE_HOME: the default --state of a run with --bank is /state/stetconform/state.json.
# STETCONFORM_CHROMIUM_NO_SANDBOX: Docker's default seccomp profile denies the user
# namespaces Chromium's own sandbox needs; the container is the sandbox.
ENV XDG_STATE_HOME=/state STETCONFORM_CHROMIUM_NO_SANDBOX=1
ENTRYPOINT ["stetconform"]
CMD ["--help"]
