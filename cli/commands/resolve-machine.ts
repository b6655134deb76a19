// A machine named on the command line by system_id or by hostname: for machines and its
// storage subcommand alike.
import { CliError, type Client, EXIT } from "../client";

const SYSTEM_ID = /^[a-z0-9]{6}$/;

/** A machine by system_id or by hostname. */
export async function resolveMachine(client: Client, ref: string): Promise<string> {
  if (SYSTEM_ID.test(ref)) return ref;
  const page = await client.call("GET /machines", { query: { hostname: ref, limit: 2 } });
  if (page.items.length === 0) throw new CliError(`no machine with system_id or hostname "${ref}"`, EXIT.notFound, "not_found");
  return page.items[0]!.system_id;
}
