# ecr-tenant-webhook: Node 24 runs the TypeScript sources directly (type stripping), so there is no build step.
# Both stages are Debian 13 (trixie), so a native module added one day is built against the libc it runs on.

# Production dependencies only, installed without lifecycle scripts (none are needed at run time).
FROM node:24-trixie-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# Runtime: distroless Node 24, no shell, no package manager, no build tools; runs as uid 65532.
FROM gcr.io/distroless/nodejs24-debian13:nonroot AS runtime
LABEL org.opencontainers.image.title="ecr-tenant-webhook" \
      org.opencontainers.image.description="Mutating admission webhook for multi-tenant EKS: per-tenant ECR rewrites, pull secrets and denials" \
      org.opencontainers.image.licenses="Apache-2.0"
WORKDIR /app
ENV NODE_ENV=production
# Owned by root and read-only for the runtime user: the process cannot change its own code.
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY src ./src
USER 65532:65532
EXPOSE 8443 9090
ENTRYPOINT ["/nodejs/bin/node", "bin/ecr-tenant-webhook.js"]
# The paths manifests/ mounts the policy ConfigMap and the TLS Secret at; the Deployment passes the same.
CMD ["serve", "--policy=/etc/ecr-tenant-webhook/policy/policy.yaml", "--tls-cert=/etc/ecr-tenant-webhook/tls/tls.crt", "--tls-key=/etc/ecr-tenant-webhook/tls/tls.key"]
