# syntax=docker/dockerfile:1
#
# fitwell: one Dockerfile, two runtime images. BuildKit is required (the default builder
# since Docker Engine 23); it builds only the stages the chosen target needs.
#
# Build:
#   docker build -t fitwell:cpu .                            # CPU (VARIANT=cpu is the default)
#   docker build -t fitwell:gpu --build-arg VARIANT=gpu .    # GPU (CUDA 11.2, cuDNN 8.1)
#   docker build -t fitwell:cpu --target runtime-cpu .       # the same two images, by stage name
#   docker build -t fitwell:gpu --target runtime-gpu .       # (docker-compose.yml uses these)
#
# Run (ENTRYPOINT is `tini -- node dist/src/main.js`; CMD picks the process, default `api`):
#   docker run -p 3000:3000 -e REDIS_URL=redis://redis-host:6379 fitwell:cpu api
#   docker run --no-healthcheck -e REDIS_URL=redis://redis-host:6379 fitwell:cpu worker
#   docker run --gpus all --no-healthcheck -e REDIS_URL=redis://redis-host:6379 fitwell:gpu worker
#   (`all` runs the API and a worker in one container.)
# The image HEALTHCHECK probes the API's GET /healthz; a worker has no HTTP port, so run it
# with --no-healthcheck (docker-compose.yml disables it for the worker services).
#
# Stages:
#   node-base    Debian bookworm slim + Node 20 + tini; base of everything CPU-side
#   build        npm ci with dev dependencies, tsc -> dist/
#   deps-cpu     production node_modules with @tensorflow/tfjs-node (native CPU) when its
#                libtensorflow download works, else without it (TF_BACKEND=auto -> wasm)
#   runtime-cpu  the CPU image
#   gpu-base     nvidia/cuda 11.2.2 + cuDNN 8 runtime (Ubuntu 20.04) + Node copied from node-base
#   deps-gpu     production node_modules with @tensorflow/tfjs-node-gpu (libtensorflow 2.9.1 GPU)
#   runtime-gpu  the GPU image
#   runtime      runtime-${VARIANT}: the default target

ARG NODE_VERSION=20.20.2
# Registry/repository of the CUDA base only (e.g. nvcr.io/nvidia/cuda); its tag stays fixed:
# libtensorflow 2.9.1, which tfjs-node-gpu 4.x loads, needs CUDA 11.2 and cuDNN 8.1.
ARG CUDA_IMAGE=nvidia/cuda
ARG VARIANT=cpu

############################################################################################
FROM node:${NODE_VERSION}-bookworm-slim AS node-base

# tini as PID 1: forwards SIGTERM/SIGINT to node (graceful shutdown) and reaps orphaned
# child processes (sandboxed BullMQ processors run in children). The package also ships a
# static build (tini-static), which gpu-base copies.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini=0.19.0-1+b3 \
 && rm -rf /var/lib/apt/lists/*

ENV NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false
WORKDIR /app

############################################################################################
FROM node-base AS build

COPY package.json package-lock.json ./
# --ignore-scripts skips the root `prepare` script (it runs `npm run build`, and the sources
# are not here yet) and the libtensorflow downloads of the optional tfjs-node packages,
# which tsc does not need (their type declarations are installed all the same).
RUN --mount=type=cache,target=/root/.npm \
    npm ci --ignore-scripts
COPY . .
RUN npm run build

############################################################################################
FROM node-base AS deps-cpu

COPY package.json package-lock.json ./
# 1. Production dependencies only; --ignore-scripts because the root `prepare` script would
#    run tsc, which --omit=dev does not install.
# 2. Drop the GPU package (it cannot work without CUDA) and the dependencies' source maps:
#    ~200 MB of the ~350 MB of node_modules (mostly tfjs bundles), read only by debuggers.
# 3. --ignore-scripts also skipped tfjs-node's own install script (download libtensorflow
#    2.9.1 CPU + the prebuilt addon), so run it explicitly with `npm rebuild`. If the
#    download (or the load check after it) fails, remove the package: the backend
#    selection (TF_BACKEND=auto) then goes on to wasm, which needs no download.
#    `timeout` bounds a stalled download (the install script sets none).
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --ignore-scripts \
 && rm -rf node_modules/@tensorflow/tfjs-node-gpu \
 && find node_modules -type f -name '*.map' -delete \
 && if timeout 900 npm rebuild @tensorflow/tfjs-node \
       && node -e "require('@tensorflow/tfjs-node')"; then \
      rm -rf node_modules/@tensorflow/tfjs-node/deps/include; \
      echo "native CPU backend (@tensorflow/tfjs-node) installed"; \
    else \
      rm -rf node_modules/@tensorflow/tfjs-node; \
      echo "WARNING: @tensorflow/tfjs-node unavailable; the image falls back to the wasm backend" >&2; \
    fi

############################################################################################
FROM node-base AS runtime-cpu

LABEL org.opencontainers.image.title="fitwell" \
      org.opencontainers.image.description="fitwell training-and-inference service (CPU: tfjs-node or wasm)" \
      org.opencontainers.image.licenses="MIT"

ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    TF_BACKEND=auto

# Everything owned by root and read-only to the app user.
COPY --from=deps-cpu /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./

# uid/gid 1000 is the `node` user of the base image; numeric so that Kubernetes'
# runAsNonRoot can verify it.
USER 1000:1000
EXPOSE 3000

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

ENTRYPOINT ["/usr/bin/tini", "--", "node", "dist/src/main.js"]
CMD ["api"]

############################################################################################
FROM ${CUDA_IMAGE}:11.2.2-cudnn8-runtime-ubuntu20.04 AS gpu-base

# Node 20 from the official image (its binary needs glibc >= 2.28; Ubuntu 20.04 has 2.31),
# and the static tini: no apt, no extra package repository in the CUDA image.
COPY --from=node-base /usr/local/bin/node /usr/local/bin/node
COPY --from=node-base /usr/bin/tini-static /usr/bin/tini
RUN groupadd --gid 1000 node \
 && useradd --uid 1000 --gid node --shell /bin/bash --create-home node

ENV NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false
WORKDIR /app

############################################################################################
FROM gpu-base AS deps-gpu

# npm only in this stage; the GPU runtime image carries node alone.
COPY --from=node-base /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm

COPY package.json package-lock.json ./
# As in deps-cpu, but the other way round: keep tfjs-node-gpu, drop tfjs-node, and a failed
# libtensorflow GPU download fails the build (a GPU image without it is pointless).
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --ignore-scripts \
 && rm -rf node_modules/@tensorflow/tfjs-node \
 && find node_modules -type f -name '*.map' -delete \
 && timeout 1800 npm rebuild @tensorflow/tfjs-node-gpu \
 && test -f node_modules/@tensorflow/tfjs-node-gpu/deps/lib/libtensorflow.so.2 \
 && ls node_modules/@tensorflow/tfjs-node-gpu/lib/napi-v*/tfjs_binding.node \
 && rm -rf node_modules/@tensorflow/tfjs-node-gpu/deps/include

############################################################################################
FROM gpu-base AS runtime-gpu

LABEL org.opencontainers.image.title="fitwell" \
      org.opencontainers.image.description="fitwell training-and-inference service (GPU: tfjs-node-gpu, CUDA 11.2, cuDNN 8.1)" \
      org.opencontainers.image.licenses="MIT"

# TF_FORCE_GPU_ALLOW_GROWTH: allocate GPU memory as needed instead of all of it at start,
# so several processes can share one GPU.
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    TF_BACKEND=tensorflow-gpu \
    TF_FORCE_GPU_ALLOW_GROWTH=true

COPY --from=deps-gpu /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./

USER 1000:1000
EXPOSE 3000

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

ENTRYPOINT ["/usr/bin/tini", "--", "node", "dist/src/main.js"]
CMD ["api"]

############################################################################################
# Default target: `--build-arg VARIANT=gpu` selects the GPU image. hadolint cannot resolve a
# stage name built from a build argument and would report it as an untagged image.
# hadolint ignore=DL3006
FROM runtime-${VARIANT} AS runtime
