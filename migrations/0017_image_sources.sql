CREATE TABLE `boot_image_files` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`version_id` integer NOT NULL,
	`ftype` text NOT NULL,
	`path` text NOT NULL,
	`sha256` text NOT NULL,
	`size` integer NOT NULL,
	`bytes_done` integer DEFAULT 0 NOT NULL,
	`state` text DEFAULT 'pending' NOT NULL,
	`error` text,
	FOREIGN KEY (`version_id`) REFERENCES `boot_image_versions`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `boot_image_files_unique` ON `boot_image_files` (`version_id`,`ftype`);--> statement-breakpoint
CREATE INDEX `boot_image_files_sha256` ON `boot_image_files` (`sha256`);--> statement-breakpoint
CREATE TABLE `boot_image_versions` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`image_id` integer NOT NULL,
	`source_id` integer,
	`product` text NOT NULL,
	`version` text NOT NULL,
	`label` text DEFAULT '' NOT NULL,
	`complete` integer DEFAULT false NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	FOREIGN KEY (`image_id`) REFERENCES `boot_images`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`source_id`) REFERENCES `boot_sources`(`id`) ON UPDATE no action ON DELETE set null
);
--> statement-breakpoint
CREATE UNIQUE INDEX `boot_image_versions_unique` ON `boot_image_versions` (`image_id`,`version`);--> statement-breakpoint
CREATE TABLE `boot_source_selections` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`source_id` integer NOT NULL,
	`os` text NOT NULL,
	`release` text NOT NULL,
	`arches` text DEFAULT '["*"]' NOT NULL,
	`subarches` text DEFAULT '["*"]' NOT NULL,
	`labels` text DEFAULT '["*"]' NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	FOREIGN KEY (`source_id`) REFERENCES `boot_sources`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `boot_source_selections_unique` ON `boot_source_selections` (`source_id`,`os`,`release`);--> statement-breakpoint
CREATE TABLE `boot_sources` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`url` text NOT NULL,
	`keyring_data` text,
	`keyring_filename` text DEFAULT '' NOT NULL,
	`skip_verify` integer DEFAULT false NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	`updated_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `boot_sources_url_unique` ON `boot_sources` (`url`);--> statement-breakpoint
CREATE TABLE `image_syncs` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`state` text DEFAULT 'running' NOT NULL,
	`trigger` text DEFAULT 'manual' NOT NULL,
	`actor` text DEFAULT '' NOT NULL,
	`items_total` integer DEFAULT 0 NOT NULL,
	`items_done` integer DEFAULT 0 NOT NULL,
	`bytes_total` integer DEFAULT 0 NOT NULL,
	`bytes_done` integer DEFAULT 0 NOT NULL,
	`error` text,
	`started_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	`finished_at` integer,
	`heartbeat_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `image_syncs_one_running` ON `image_syncs` (`state`) WHERE state = 'running';--> statement-breakpoint
CREATE TABLE `rack_images` (
	`rack_id` text NOT NULL,
	`sha256` text NOT NULL,
	`state` text NOT NULL,
	`bytes` integer DEFAULT 0 NOT NULL,
	`total` integer DEFAULT 0 NOT NULL,
	`error` text,
	`updated_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	PRIMARY KEY(`rack_id`, `sha256`),
	FOREIGN KEY (`rack_id`) REFERENCES `racks`(`id`) ON UPDATE no action ON DELETE cascade
);
