CREATE TABLE `maas_files` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`owner_id` integer NOT NULL,
	`filename` text NOT NULL,
	`key` text NOT NULL,
	`object` text NOT NULL,
	`size` integer NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	`updated_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	FOREIGN KEY (`owner_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `maas_files_key_unique` ON `maas_files` (`key`);--> statement-breakpoint
CREATE UNIQUE INDEX `maas_files_owner_name` ON `maas_files` (`owner_id`,`filename`);