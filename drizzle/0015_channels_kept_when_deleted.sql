DROP INDEX "channels_provider_external_uq";--> statement-breakpoint
ALTER TABLE "channels" ADD COLUMN "deleted_at" timestamp with time zone;--> statement-breakpoint
CREATE UNIQUE INDEX "channels_provider_external_uq" ON "channels" USING btree ("provider","external_id") WHERE "channels"."deleted_at" is null;