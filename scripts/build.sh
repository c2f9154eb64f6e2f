#!/usr/bin/env bash
# One way to build everything: the native addon, every TypeScript project, the console bundle.
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"
say "building native addon (node-gyp)"
npm run build --silent -w @pgw/original-dst
say "building TypeScript (tsc -b)"
npx tsc -b tsconfig.json
if [ -f ui/vite.config.ts ]; then
  say "building console (vite)"
  npm run build --silent -w @pgw/ui
fi
say "build done"
