import { fileURLToPath } from 'node:url';
import vue from '@vitejs/plugin-vue';
import { defineConfig } from 'vite';

// The api serves ui/dist at "/" and the API at /api/v1 on the same origin, so the session
// cookie and the SSE stream need no CORS. In dev, PGW_API_ORIGIN points the proxy at a running api.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  plugins: [vue()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    reportCompressedSize: false,
    sourcemap: false,
  },
  server: {
    proxy: { '/api': { target: process.env.PGW_API_ORIGIN ?? 'http://127.0.0.1:8080', changeOrigin: false } },
  },
});
