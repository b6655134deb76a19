// One machine's BMC driver for the length of one piece of work: the manual driver's requests
// for a human go to the log under the machine's id, and the driver is closed whatever happens.
import type { PowerDriver } from "../bmc/driver";
import { createDriver } from "../bmc/registry";
import type { Logger } from "../log";

export interface MachineBmc {
  system_id: string;
  power_type: string;
  power_parameters?: unknown;
}

export async function withDriver<T>(m: MachineBmc, log: Logger, work: (driver: PowerDriver) => Promise<T>): Promise<T> {
  const driver = await createDriver(m.power_type, m.power_parameters, { notify: (message) => log("warn", message, { system_id: m.system_id }) });
  try {
    return await work(driver);
  } finally {
    await driver.close?.().catch(() => {});
  }
}
