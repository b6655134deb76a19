ALTER TABLE `machines` ADD `deploy_token` text;--> statement-breakpoint
ALTER TABLE `machines` ADD `deploy_installed_at` integer;--> statement-breakpoint
ALTER TABLE `machines` ADD `erase_mode` text;