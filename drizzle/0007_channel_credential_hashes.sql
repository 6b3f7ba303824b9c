ALTER TABLE "channels" ADD COLUMN "webhook_secret_hash" text;--> statement-breakpoint
ALTER TABLE "channels" ADD COLUMN "verify_token_hash" text;--> statement-breakpoint
CREATE INDEX "channels_webhook_secret_hash_idx" ON "channels" USING btree ("provider","webhook_secret_hash") WHERE "channels"."webhook_secret_hash" is not null;--> statement-breakpoint
CREATE INDEX "channels_verify_token_hash_idx" ON "channels" USING btree ("provider","verify_token_hash") WHERE "channels"."verify_token_hash" is not null;--> statement-breakpoint
-- Backfill from the credentials stored so far (sha256() is built into PostgreSQL 11+ and PGlite; hex as the code writes it).
UPDATE "channels" SET "webhook_secret_hash" = encode(sha256(convert_to("credentials"->>'webhookSecret', 'UTF8')), 'hex') WHERE coalesce("credentials"->>'webhookSecret', '') <> '';--> statement-breakpoint
UPDATE "channels" SET "verify_token_hash" = encode(sha256(convert_to("credentials"->>'verifyToken', 'UTF8')), 'hex') WHERE coalesce("credentials"->>'verifyToken', '') <> '';
