import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "sqlite",
  schema: "./cloud/db/schema.ts",
  out: "./migrations",
});
