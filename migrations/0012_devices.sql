CREATE TABLE `devices` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`system_id` text NOT NULL,
	`hostname` text NOT NULL,
	`domain` text DEFAULT 'maas' NOT NULL,
	`description` text DEFAULT '' NOT NULL,
	`site_id` integer NOT NULL,
	`zone_id` integer NOT NULL,
	`owner_id` integer,
	`parent_id` integer,
	`macs` text DEFAULT '[]' NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	`updated_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	FOREIGN KEY (`site_id`) REFERENCES `sites`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`zone_id`) REFERENCES `zones`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`owner_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE set null,
	FOREIGN KEY (`parent_id`) REFERENCES `machines`(`id`) ON UPDATE no action ON DELETE set null
);
--> statement-breakpoint
CREATE UNIQUE INDEX `devices_system_id_unique` ON `devices` (`system_id`);--> statement-breakpoint
CREATE UNIQUE INDEX `devices_hostname_domain` ON `devices` (`hostname`,`domain`);--> statement-breakpoint
CREATE INDEX `devices_site` ON `devices` (`site_id`);