-- The audit log is append-only: nothing may rewrite or remove an event.
CREATE TRIGGER events_no_update BEFORE UPDATE ON events BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
--> statement-breakpoint
CREATE TRIGGER events_no_delete BEFORE DELETE ON events BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
--> statement-breakpoint
-- The defaults every machine needs a home in (MAAS has the same three).
INSERT INTO zones (id, name, description) VALUES (1, 'default', 'Default zone');
--> statement-breakpoint
INSERT INTO resource_pools (id, name, description) VALUES (1, 'default', 'Default pool of machines');
--> statement-breakpoint
INSERT INTO sites (id, name, description) VALUES (1, 'default', 'Default site');
--> statement-breakpoint
INSERT INTO fabrics (id, name) VALUES (1, 'fabric-0');
