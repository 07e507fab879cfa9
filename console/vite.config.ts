// The console's build: one page and its hashed assets in dist/, embedded in crm-server.
import { defineConfig } from "vite";

export default defineConfig({
  base: "/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsInlineLimit: 0,
    // ECharts is most of the bundle; one chunk is fine for a console served from loopback.
    chunkSizeWarningLimit: 1500,
  },
});
