#!/usr/bin/env bash
# One way to build everything: the native addon, every TypeScript project, the services' bundles,
# the console bundle.
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"
say "building native addon (node-gyp)"
npm run build --silent -w @pgw/original-dst
say "building TypeScript (tsc -b)"
npx tsc -b tsconfig.json
say "bundling the services (esbuild: services/<name>/bundle, what systemd, Compose and the lab run)"
node --import tsx scripts/bundle-services.ts
if [ -f ui/vite.config.ts ]; then
  say "building console (vite)"
  npm run build --silent -w @pgw/ui
fi
say "build done"
