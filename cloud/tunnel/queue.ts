// The Durable Object's durable command queue: one storage key per command until its result
// (or its deadline) is recorded, so a command survives hibernation, eviction and restarts
// and is replayed to every new connection of the rack.
import type { StoredCommand } from "../domain/racks/delivery";

const PREFIX = "cmd:";

export class CommandQueue {
  constructor(private readonly storage: DurableObjectStorage) {}

  put(cmd: StoredCommand): Promise<void> {
    return this.storage.put(PREFIX + cmd.id, cmd);
  }

  get(id: string): Promise<StoredCommand | undefined> {
    return this.storage.get<StoredCommand>(PREFIX + id);
  }

  async remove(id: string): Promise<void> {
    await this.storage.delete(PREFIX + id);
  }

  async removeMany(ids: string[]): Promise<void> {
    // Storage deletes at most 128 keys per call.
    for (let i = 0; i < ids.length; i += 128) await this.storage.delete(ids.slice(i, i + 128).map((id) => PREFIX + id));
  }

  /** Oldest first, as the ids sort by creation time. */
  async all(): Promise<StoredCommand[]> {
    const m = await this.storage.list<StoredCommand>({ prefix: PREFIX });
    return [...m.values()].sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));
  }
}
