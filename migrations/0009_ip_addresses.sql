CREATE TABLE `ip_addresses` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`subnet_id` integer,
	`ip` text,
	`kind` text NOT NULL,
	`interface_id` integer,
	`machine_id` integer,
	`owner_id` integer,
	`mac` text,
	`default_gateway` integer DEFAULT false NOT NULL,
	`comment` text DEFAULT '' NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	FOREIGN KEY (`subnet_id`) REFERENCES `subnets`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`interface_id`) REFERENCES `interfaces`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`machine_id`) REFERENCES `machines`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`owner_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE set null,
	CONSTRAINT "ip_addresses_subnet_needed" CHECK("ip_addresses"."subnet_id" IS NOT NULL OR "ip_addresses"."kind" = 'link_up')
);
--> statement-breakpoint
CREATE UNIQUE INDEX `ip_addresses_subnet_ip` ON `ip_addresses` (`subnet_id`,`ip`);--> statement-breakpoint
CREATE INDEX `ip_addresses_interface` ON `ip_addresses` (`interface_id`);--> statement-breakpoint
CREATE INDEX `ip_addresses_machine` ON `ip_addresses` (`machine_id`);--> statement-breakpoint
-- Hand-written: each interface's one link (interfaces.subnet_id/ip_address/link_mode) becomes
-- its row. An address two interfaces claimed on one subnet stays with the older interface; the
-- other keeps its link without an address (the UNIQUE index above allows no duplicate).
INSERT INTO `ip_addresses` (`subnet_id`, `ip`, `kind`, `interface_id`, `machine_id`, `created_at`)
SELECT i.`subnet_id`,
       CASE WHEN EXISTS (SELECT 1 FROM `interfaces` j WHERE j.`subnet_id` = i.`subnet_id` AND j.`ip_address` = i.`ip_address` AND j.`id` < i.`id`)
            THEN NULL ELSE i.`ip_address` END,
       i.`link_mode`, i.`id`, i.`machine_id`, i.`created_at`
FROM `interfaces` i WHERE i.`subnet_id` IS NOT NULL ORDER BY i.`id`;
