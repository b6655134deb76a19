CREATE TABLE `rack_commands` (
	`id` text PRIMARY KEY NOT NULL,
	`rack_id` text NOT NULL,
	`machine_id` integer,
	`type` text NOT NULL,
	`state` text DEFAULT 'pending' NOT NULL,
	`result` text,
	`actor` text DEFAULT '' NOT NULL,
	`deadline` integer NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	`completed_at` integer
);
--> statement-breakpoint
CREATE INDEX `rack_commands_rack_state` ON `rack_commands` (`rack_id`,`state`);--> statement-breakpoint
CREATE INDEX `rack_commands_machine` ON `rack_commands` (`machine_id`,`created_at`);--> statement-breakpoint
CREATE TABLE `rack_events` (
	`rack_id` text NOT NULL,
	`journal` text NOT NULL,
	`seq` integer NOT NULL,
	`type` text NOT NULL,
	`data` text NOT NULL,
	`at` integer NOT NULL,
	`received_at` integer NOT NULL,
	PRIMARY KEY(`rack_id`, `journal`, `seq`)
);
--> statement-breakpoint
CREATE INDEX `rack_events_type` ON `rack_events` (`type`,`received_at`);--> statement-breakpoint
ALTER TABLE `enrol_tokens` ADD `name` text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE `enrol_tokens` ADD `prefix` text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE `enrol_tokens` ADD `used_count` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `racks` ADD `next_secret_hash` text;--> statement-breakpoint
ALTER TABLE `racks` ADD `config_version` text;--> statement-breakpoint
ALTER TABLE `racks` ADD `enrol_token_id` integer;--> statement-breakpoint
CREATE INDEX `racks_site_hostname` ON `racks` (`site_id`,`hostname`);