// The catalog resources, in the order the route table takes them: zones/, resourcepools/,
// tags/, domains/ and boot-resources/, the same tables /api/v1 serves in MAAS's shapes.
import { bootResourceHandlers } from "./boot-resources";
import { domainHandlers } from "./domains";
import { poolHandlers } from "./pools";
import type { Handler } from "./table";
import { tagHandlers } from "./tags";
import { zoneHandlers } from "./zones";

export const catalogHandlers: Handler[] = [...zoneHandlers, ...poolHandlers, ...tagHandlers, ...domainHandlers, ...bootResourceHandlers];
