ALTER TABLE `block_devices` ADD `tags` text;--> statement-breakpoint
ALTER TABLE `machines` ADD `storage_design` text;