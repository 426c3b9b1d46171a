# driftgate: build with the Node 24 image, run on a distroless Node 24 image (no shell, no
# package manager) as a non-root user. No Docker engine runs on the development machines, so
# this file is not built in CI; test/unit/package/dockerfile.test.ts checks what can be checked
# without one (every copied path exists and survives .dockerignore, the entrypoint runs the
# built CLI).
#
# Base images are pinned by digest, so a rebuild gets the same bytes until someone moves the pin
# on purpose (the tag stays beside it for the reader). To move a pin:
#   docker buildx imagetools inspect node:24-bookworm-slim   (its "Digest:" line)
# These two digests were not read from the registries (no registry is reachable from where this
# file was written): they are the ones public projects pin for the same tags (the node one marked
# 24.18.0 there). Confirm them with the command above before the first release build.

FROM node:24-bookworm-slim@sha256:6f7b03f7c2c8e2e784dcf9295400527b9b1270fd37b7e9a7285cf83b6951452d AS build
WORKDIR /src
COPY package.json package-lock.json ./
# The node@24 devDependency brings a second Node for npm scripts on old hosts; the image has its own.
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json

FROM node:24-bookworm-slim@sha256:6f7b03f7c2c8e2e784dcf9295400527b9b1270fd37b7e9a7285cf83b6951452d AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force

FROM gcr.io/distroless/nodejs24-debian12:nonroot@sha256:14d42e2511532589a7c7e01a753667a74fcc96266e137e8125006b87b0c32d0a
WORKDIR /app
ENV NODE_ENV=production
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY examples/policy.yaml ./examples/policy.yaml
USER 65532:65532
EXPOSE 8443 9090
ENTRYPOINT ["/nodejs/bin/node", "dist/cli/main.js"]
CMD ["serve", "--policy", "/etc/driftgate/policy.yaml", "--tls-cert", "/etc/driftgate/tls/tls.crt", "--tls-key", "/etc/driftgate/tls/tls.key", "--tickets", "kubernetes"]
