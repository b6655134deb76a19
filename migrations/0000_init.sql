CREATE TABLE `api_keys` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`key_id` text NOT NULL,
	`user_id` integer NOT NULL,
	`name` text DEFAULT '' NOT NULL,
	`secret_hash` text NOT NULL,
	`maas_consumer_key` text NOT NULL,
	`maas_token_key` text NOT NULL,
	`maas_secret_hash` text NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	`last_used_at` integer,
	`revoked_at` integer,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `api_keys_key_id_unique` ON `api_keys` (`key_id`);--> statement-breakpoint
CREATE UNIQUE INDEX `api_keys_maas_token_key_unique` ON `api_keys` (`maas_token_key`);--> statement-breakpoint
CREATE INDEX `api_keys_user` ON `api_keys` (`user_id`);--> statement-breakpoint
CREATE TABLE `block_devices` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`machine_id` integer NOT NULL,
	`name` text NOT NULL,
	`path` text DEFAULT '' NOT NULL,
	`model` text DEFAULT '' NOT NULL,
	`serial` text DEFAULT '' NOT NULL,
	`size` integer NOT NULL,
	`rotational` integer DEFAULT false NOT NULL,
	`is_boot` integer DEFAULT false NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	FOREIGN KEY (`machine_id`) REFERENCES `machines`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `block_devices_machine` ON `block_devices` (`machine_id`);--> statement-breakpoint
CREATE TABLE `boot_images` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`osystem` text NOT NULL,
	`series` text NOT NULL,
	`architecture` text DEFAULT 'amd64/generic' NOT NULL,
	`kind` text DEFAULT 'synced' NOT NULL,
	`url` text,
	`sha256` text,
	`format` text DEFAULT 'raw.gz' NOT NULL,
	`size` integer DEFAULT 0 NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `boot_images_unique` ON `boot_images` (`osystem`,`series`,`architecture`);--> statement-breakpoint
CREATE TABLE `commissioning_results` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`machine_id` integer NOT NULL,
	`name` text NOT NULL,
	`status` text NOT NULL,
	`exit_code` integer,
	`output` text DEFAULT '' NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	FOREIGN KEY (`machine_id`) REFERENCES `machines`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `commissioning_results_machine` ON `commissioning_results` (`machine_id`,`id`);--> statement-breakpoint
CREATE TABLE `enrol_tokens` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`site_id` integer NOT NULL,
	`token_hash` text NOT NULL,
	`expires_at` integer NOT NULL,
	`uses_left` integer,
	`created_by` integer,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	`revoked_at` integer,
	FOREIGN KEY (`site_id`) REFERENCES `sites`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`created_by`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE set null
);
--> statement-breakpoint
CREATE UNIQUE INDEX `enrol_tokens_token_hash_unique` ON `enrol_tokens` (`token_hash`);--> statement-breakpoint
CREATE TABLE `events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`machine_id` integer,
	`system_id` text,
	`hostname` text,
	`site_id` integer,
	`type` text NOT NULL,
	`level` text DEFAULT 'INFO' NOT NULL,
	`actor` text NOT NULL,
	`from_status` integer,
	`to_status` integer,
	`description` text DEFAULT '' NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL
);
--> statement-breakpoint
CREATE INDEX `events_machine` ON `events` (`machine_id`,`id`);--> statement-breakpoint
CREATE INDEX `events_site` ON `events` (`site_id`,`id`);--> statement-breakpoint
CREATE INDEX `events_type` ON `events` (`type`,`id`);--> statement-breakpoint
CREATE TABLE `fabrics` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`name` text NOT NULL,
	`description` text DEFAULT '' NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `fabrics_name_unique` ON `fabrics` (`name`);--> statement-breakpoint
CREATE TABLE `interfaces` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`machine_id` integer NOT NULL,
	`name` text NOT NULL,
	`mac` text NOT NULL,
	`type` text DEFAULT 'physical' NOT NULL,
	`vlan_id` integer,
	`subnet_id` integer,
	`ip_address` text,
	`link_mode` text DEFAULT 'auto' NOT NULL,
	`driver` text DEFAULT '' NOT NULL,
	`speed_mbps` integer DEFAULT 0 NOT NULL,
	`link_connected` integer DEFAULT true NOT NULL,
	`is_boot` integer DEFAULT false NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	FOREIGN KEY (`machine_id`) REFERENCES `machines`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`vlan_id`) REFERENCES `vlans`(`id`) ON UPDATE no action ON DELETE set null,
	FOREIGN KEY (`subnet_id`) REFERENCES `subnets`(`id`) ON UPDATE no action ON DELETE set null
);
--> statement-breakpoint
CREATE UNIQUE INDEX `interfaces_mac_unique` ON `interfaces` (`mac`);--> statement-breakpoint
CREATE INDEX `interfaces_machine` ON `interfaces` (`machine_id`);--> statement-breakpoint
CREATE TABLE `ip_ranges` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`subnet_id` integer NOT NULL,
	`type` text NOT NULL,
	`start_ip` text NOT NULL,
	`end_ip` text NOT NULL,
	`comment` text DEFAULT '' NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	FOREIGN KEY (`subnet_id`) REFERENCES `subnets`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `ip_ranges_subnet` ON `ip_ranges` (`subnet_id`);--> statement-breakpoint
CREATE TABLE `machine_tags` (
	`machine_id` integer NOT NULL,
	`tag_id` integer NOT NULL,
	PRIMARY KEY(`machine_id`, `tag_id`),
	FOREIGN KEY (`machine_id`) REFERENCES `machines`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`tag_id`) REFERENCES `tags`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `machine_tags_tag` ON `machine_tags` (`tag_id`,`machine_id`);--> statement-breakpoint
CREATE TABLE `machines` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`system_id` text NOT NULL,
	`hostname` text NOT NULL,
	`domain` text DEFAULT 'maas' NOT NULL,
	`description` text DEFAULT '' NOT NULL,
	`status` integer DEFAULT 0 NOT NULL,
	`previous_status` integer,
	`status_message` text DEFAULT '' NOT NULL,
	`status_expires` integer,
	`owner_id` integer,
	`architecture` text DEFAULT 'amd64/generic' NOT NULL,
	`cpu_count` integer DEFAULT 0 NOT NULL,
	`cpu_model` text DEFAULT '' NOT NULL,
	`cpu_speed` integer DEFAULT 0 NOT NULL,
	`memory` integer DEFAULT 0 NOT NULL,
	`storage` real DEFAULT 0 NOT NULL,
	`boot_mac` text,
	`firmware` text DEFAULT 'unknown' NOT NULL,
	`osystem` text DEFAULT '' NOT NULL,
	`distro_series` text DEFAULT '' NOT NULL,
	`user_data` text,
	`power_type` text DEFAULT 'manual' NOT NULL,
	`power_params_enc` text,
	`power_params_set` text DEFAULT '[]' NOT NULL,
	`power_state` text DEFAULT 'unknown' NOT NULL,
	`power_checked_at` integer,
	`site_id` integer NOT NULL,
	`zone_id` integer NOT NULL,
	`pool_id` integer NOT NULL,
	`rack_id` text,
	`locked` integer DEFAULT false NOT NULL,
	`owner_data` text DEFAULT '{}' NOT NULL,
	`hardware_uuid` text,
	`op_nonce` text,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	`updated_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	FOREIGN KEY (`owner_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE set null,
	FOREIGN KEY (`site_id`) REFERENCES `sites`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`zone_id`) REFERENCES `zones`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`pool_id`) REFERENCES `resource_pools`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `machines_system_id_unique` ON `machines` (`system_id`);--> statement-breakpoint
CREATE UNIQUE INDEX `machines_hostname_domain` ON `machines` (`hostname`,`domain`);--> statement-breakpoint
CREATE INDEX `machines_status` ON `machines` (`status`,`id`);--> statement-breakpoint
CREATE INDEX `machines_site` ON `machines` (`site_id`,`id`);--> statement-breakpoint
CREATE INDEX `machines_site_status` ON `machines` (`site_id`,`status`,`id`);--> statement-breakpoint
CREATE INDEX `machines_zone` ON `machines` (`zone_id`,`id`);--> statement-breakpoint
CREATE INDEX `machines_pool` ON `machines` (`pool_id`,`id`);--> statement-breakpoint
CREATE INDEX `machines_owner` ON `machines` (`owner_id`,`id`);--> statement-breakpoint
CREATE INDEX `machines_arch` ON `machines` (`architecture`,`id`);--> statement-breakpoint
CREATE INDEX `machines_expires` ON `machines` (`status_expires`);--> statement-breakpoint
CREATE INDEX `machines_op_nonce` ON `machines` (`op_nonce`);--> statement-breakpoint
CREATE TABLE `racks` (
	`id` text PRIMARY KEY NOT NULL,
	`site_id` integer NOT NULL,
	`hostname` text NOT NULL,
	`version` text DEFAULT '' NOT NULL,
	`secret_hash` text NOT NULL,
	`interfaces` text DEFAULT '[]' NOT NULL,
	`connected` integer DEFAULT false NOT NULL,
	`last_seen_at` integer,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	`revoked_at` integer,
	FOREIGN KEY (`site_id`) REFERENCES `sites`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `racks_site` ON `racks` (`site_id`);--> statement-breakpoint
CREATE TABLE `resource_pools` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`name` text NOT NULL,
	`description` text DEFAULT '' NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `resource_pools_name_unique` ON `resource_pools` (`name`);--> statement-breakpoint
CREATE TABLE `role_bindings` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`user_id` integer NOT NULL,
	`role` text NOT NULL,
	`site_id` integer,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`site_id`) REFERENCES `sites`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `role_bindings_user` ON `role_bindings` (`user_id`);--> statement-breakpoint
CREATE UNIQUE INDEX `role_bindings_unique` ON `role_bindings` (`user_id`,`role`,`site_id`);--> statement-breakpoint
CREATE TABLE `sites` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`name` text NOT NULL,
	`description` text DEFAULT '' NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `sites_name_unique` ON `sites` (`name`);--> statement-breakpoint
CREATE TABLE `spaces` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`name` text NOT NULL,
	`description` text DEFAULT '' NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `spaces_name_unique` ON `spaces` (`name`);--> statement-breakpoint
CREATE TABLE `subnets` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`cidr` text NOT NULL,
	`name` text DEFAULT '' NOT NULL,
	`vlan_id` integer,
	`site_id` integer,
	`gateway_ip` text,
	`dns_servers` text DEFAULT '[]' NOT NULL,
	`rack_id` text,
	`managed` integer DEFAULT true NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	FOREIGN KEY (`vlan_id`) REFERENCES `vlans`(`id`) ON UPDATE no action ON DELETE set null,
	FOREIGN KEY (`site_id`) REFERENCES `sites`(`id`) ON UPDATE no action ON DELETE set null,
	FOREIGN KEY (`rack_id`) REFERENCES `racks`(`id`) ON UPDATE no action ON DELETE set null
);
--> statement-breakpoint
CREATE UNIQUE INDEX `subnets_cidr_unique` ON `subnets` (`cidr`);--> statement-breakpoint
CREATE INDEX `subnets_site` ON `subnets` (`site_id`);--> statement-breakpoint
CREATE INDEX `subnets_vlan` ON `subnets` (`vlan_id`);--> statement-breakpoint
CREATE TABLE `tags` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`name` text NOT NULL,
	`comment` text DEFAULT '' NOT NULL,
	`definition` text DEFAULT '' NOT NULL,
	`kernel_opts` text DEFAULT '' NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `tags_name_unique` ON `tags` (`name`);--> statement-breakpoint
CREATE TABLE `users` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`username` text NOT NULL,
	`email` text DEFAULT '' NOT NULL,
	`password_hash` text,
	`is_active` integer DEFAULT true NOT NULL,
	`ssh_keys` text DEFAULT '[]' NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `users_username_unique` ON `users` (`username`);--> statement-breakpoint
CREATE TABLE `vlans` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`fabric_id` integer NOT NULL,
	`vid` integer NOT NULL,
	`name` text DEFAULT '' NOT NULL,
	`mtu` integer DEFAULT 1500 NOT NULL,
	`dhcp_on` integer DEFAULT false NOT NULL,
	`space_id` integer,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	FOREIGN KEY (`fabric_id`) REFERENCES `fabrics`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`space_id`) REFERENCES `spaces`(`id`) ON UPDATE no action ON DELETE set null
);
--> statement-breakpoint
CREATE UNIQUE INDEX `vlans_fabric_vid` ON `vlans` (`fabric_id`,`vid`);--> statement-breakpoint
CREATE TABLE `zones` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`name` text NOT NULL,
	`description` text DEFAULT '' NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `zones_name_unique` ON `zones` (`name`);