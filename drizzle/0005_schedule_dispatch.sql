ALTER TABLE "scheduled_messages" ADD COLUMN "dispatch" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "scheduled_messages" ADD COLUMN "claimed_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "scheduled_messages_due_idx" ON "scheduled_messages" USING btree ("scheduled_for") WHERE "scheduled_messages"."status" = 'scheduled' and "scheduled_messages"."dispatch";