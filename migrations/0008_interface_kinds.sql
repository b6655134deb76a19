CREATE TABLE `interface_parents` (
	`child_id` integer NOT NULL,
	`parent_id` integer NOT NULL,
	PRIMARY KEY(`child_id`, `parent_id`),
	FOREIGN KEY (`child_id`) REFERENCES `interfaces`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`parent_id`) REFERENCES `interfaces`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `interface_parents_parent` ON `interface_parents` (`parent_id`);--> statement-breakpoint
DROP INDEX `interfaces_mac_unique`;--> statement-breakpoint
ALTER TABLE `interfaces` ADD `params` text DEFAULT '{}' NOT NULL;--> statement-breakpoint
ALTER TABLE `interfaces` ADD `mtu` integer;--> statement-breakpoint
ALTER TABLE `interfaces` ADD `enabled` integer DEFAULT true NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX `interfaces_physical_mac` ON `interfaces` (`mac`) WHERE type = 'physical';