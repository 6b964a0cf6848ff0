# One image for the API and the worker; docker-compose.yml picks the command.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts=false
COPY . .
ENV NODE_ENV=production
CMD ["npx", "tsx", "api/main.ts"]
