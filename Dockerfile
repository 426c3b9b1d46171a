# driftgate: build with the full Node 24 image, run on a distroless Node 24 image (no shell, no
# package manager) as a non-root user. No Docker engine runs on the development machines, so
# this file is checked by review, not built in CI (docs/operators.md says so).

FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# The node@24 devDependency brings a second Node for npm scripts on old hosts; the image has its own.
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json

FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force

FROM gcr.io/distroless/nodejs24-debian12:nonroot
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
