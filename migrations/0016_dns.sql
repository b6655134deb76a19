CREATE TABLE `dns_records` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`resource_id` integer NOT NULL,
	`rrtype` text NOT NULL,
	`rrdata` text NOT NULL,
	`ttl` integer,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	FOREIGN KEY (`resource_id`) REFERENCES `dns_resources`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `dns_records_resource` ON `dns_records` (`resource_id`);--> statement-breakpoint
CREATE TABLE `dns_resources` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`name` text NOT NULL,
	`domain_id` integer NOT NULL,
	`address_ttl` integer,
	`addresses` text DEFAULT '[]' NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	FOREIGN KEY (`domain_id`) REFERENCES `domains`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `dns_resources_domain_name` ON `dns_resources` (`domain_id`,`name`);--> statement-breakpoint
CREATE TABLE `dns_zone_serials` (
	`site_id` integer NOT NULL,
	`zone` text NOT NULL,
	`hash` text NOT NULL,
	`serial` integer NOT NULL,
	PRIMARY KEY(`site_id`, `zone`)
);
--> statement-breakpoint
CREATE TABLE `domains` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`name` text NOT NULL,
	`authoritative` integer DEFAULT true NOT NULL,
	`ttl` integer,
	`is_default` integer DEFAULT false NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `domains_name_unique` ON `domains` (`name`);--> statement-breakpoint
CREATE UNIQUE INDEX `domains_one_default` ON `domains` (`is_default`) WHERE is_default = 1;--> statement-breakpoint
INSERT INTO `domains` (`id`, `name`, `authoritative`, `is_default`) VALUES (0, 'maas', 1, 1);--> statement-breakpoint
INSERT OR IGNORE INTO `domains` (`name`) SELECT DISTINCT `domain` FROM `machines` UNION SELECT DISTINCT `domain` FROM `devices`;
