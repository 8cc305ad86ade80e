# syntax=docker/dockerfile:1
# The image of the kafka-backup operator and of the Jobs it runs: the single executable
# (dist/kafka-backup, docs/packaging.md) on a minimal glibc base, as a non-root user.
#
#   docker build -t kafka-backup:0.1.0 .
#   docker run --rm kafka-backup:0.1.0 --version
#
# Not built by the tests (there is no Docker on the test machines); docs/kubernetes.md says how
# the chart uses it. linux/amd64 as written; an arm64 image needs an arm64 build stage
# (docs/packaging.md: the executable is built by the Node binary it embeds).

# Node's Debian image only runs npm; the executable embeds the Node pinned in package.json
# (the `node` devDependency), not this one.
ARG BUILD_IMAGE=node:24-bookworm-slim
# glibc, libstdc++ and libgcc (what Node's Linux builds link), CA certificates, tzdata, no shell.
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM ${BUILD_IMAGE} AS build
WORKDIR /src
# Dependencies first: this layer stays cached until the lock file changes.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY bin/ bin/
COPY scripts/ scripts/
COPY src/ src/
# package.ts checks the result itself (`dist/kafka-backup --version` with an empty PATH).
RUN npm run package

FROM ${RUNTIME_IMAGE}
COPY --from=build /src/dist/kafka-backup /usr/local/bin/kafka-backup
# 65532 is distroless' `nonroot`; numeric, so runAsNonRoot can verify it without /etc/passwd.
USER 65532:65532
WORKDIR /home/nonroot
# The executable unpacks its CRC-32C addon under TMPDIR: with a read-only root filesystem, mount
# a writable (not noexec) volume there, as the chart does (an emptyDir at /tmp).
ENV TMPDIR=/tmp
ENTRYPOINT ["/usr/local/bin/kafka-backup"]
CMD ["--help"]
