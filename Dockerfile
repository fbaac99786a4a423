# The bench binary: every role and verb. Build from the repository root:
#   docker build -t inferencebench/bench .
FROM golang:1.26-bookworm AS build
WORKDIR /src
# Modules first, so that source changes do not re-download them.
COPY go.mod go.sum go.work go.work.sum ./
COPY pkg/envelope/go.mod pkg/envelope/go.sum pkg/envelope/
RUN go mod download && (cd pkg/envelope && go mod download)
COPY . .
ARG GIT_COMMIT=unknown
# cgo for go-nvml (GPU fingerprint and energy); the NVML library itself
# comes from the NVIDIA container runtime at run time.
ENV CGO_CFLAGS="-O2 -g -Wno-deprecated-declarations"
RUN go build -trimpath -ldflags "-X main.gitCommit=${GIT_COMMIT}" -o /out/bench ./cmd/bench

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/bench /usr/local/bin/bench
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/bench"]
