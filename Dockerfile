# Verdict sidecar image. Build: docker build -t verdict .
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
COPY sdk/package.json sdk/package.json
RUN npm ci --omit=dev --no-audit --no-fund || npm ci --no-audit --no-fund
COPY . .
USER node
EXPOSE 50051 9464
ENTRYPOINT ["node", "bin/verdict.js"]
CMD ["serve", "--config", "/etc/verdict/verdict.yaml"]
