ALTER TABLE `machines` ADD `boot_rack_id` text;--> statement-breakpoint
ALTER TABLE `machines` ADD `boot_at` integer;--> statement-breakpoint
ALTER TABLE `racks` ADD `services` text DEFAULT '[]' NOT NULL;--> statement-breakpoint
ALTER TABLE `racks` ADD `journal_depth` integer;--> statement-breakpoint
ALTER TABLE `racks` ADD `status_at` integer;