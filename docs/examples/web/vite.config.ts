import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// `npm run dev` proxies /graphql (HTTP and WebSocket) to `npm start` (GROUNDWORK_URL, default http://127.0.0.1:5678),
// so the app and the API share an origin and no CORS is needed.
const api = process.env.GROUNDWORK_URL ?? "http://127.0.0.1:5678";
export default defineConfig({
  plugins: [react()],
  server: { port: 5173, proxy: { "/graphql": { target: api, ws: true, changeOrigin: true } } },
  preview: { port: 5173, proxy: { "/graphql": { target: api, ws: true, changeOrigin: true } } },
});
