ALTER TABLE `machines` ADD `storage_layout` text DEFAULT 'flat' NOT NULL;--> statement-breakpoint
ALTER TABLE `machines` ADD `deployed_storage` text;