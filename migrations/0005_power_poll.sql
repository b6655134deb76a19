ALTER TABLE `machines` ADD `power_poll_due_at` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX `machines_power_poll` ON `machines` (`power_poll_due_at`) WHERE power_type != 'manual';--> statement-breakpoint
ALTER TABLE `racks` ADD `capabilities` text DEFAULT '[]' NOT NULL;