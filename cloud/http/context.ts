import type { Context } from "hono";
import type { Caller } from "../auth/roles";
import type { Db } from "../db/client";
import type { Env } from "../env";

export type AppEnv = { Bindings: Env; Variables: { caller: Caller; db: Db } };
export type Ctx = Context<AppEnv>;
