import type { D1Migration } from "cloudflare:test";
import type { Env as RegionEnv } from "../../cloud/env";

declare global {
  namespace Cloudflare {
    // Declared field by field: an `extends` here silently adds nothing (see docs/architecture.md).
    interface Env {
      DB: RegionEnv["DB"];
      RACK_TUNNEL: RegionEnv["RACK_TUNNEL"];
      IMAGE_SYNC: RegionEnv["IMAGE_SYNC"];
      IMAGES: RegionEnv["IMAGES"];
      FILES: RegionEnv["FILES"];
      PLINTH_SECRET_KEY: string;
      PLINTH_BOOTSTRAP_TOKEN: string;
      PLINTH_ENV: string;
      TEST_MIGRATIONS: D1Migration[];
    }
  }
}
