-- Dead letters: messages count refused dispatches; a dead one leaves the dispatcher's scan, so
-- the scan's partial index gets the dead_at predicate (dropped and rebuilt in this transaction).
-- Retention: an index on each pruned table's time column (webhook bodies: only rows that still
-- have one), so a run finds its oldest rows without scanning the table.
DROP INDEX "messages_undispatched_idx";--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "dispatch_attempts" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "dispatch_error" text;--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "dead_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "ai_interactions_created_idx" ON "ai_interactions" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "message_attempts_started_idx" ON "message_attempts" USING btree ("started_at");--> statement-breakpoint
CREATE INDEX "message_status_events_created_idx" ON "message_status_events" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "messages_dead_idx" ON "messages" USING btree ("dead_at") WHERE "messages"."dead_at" is not null;--> statement-breakpoint
CREATE INDEX "webhook_events_raw_body_idx" ON "webhook_events" USING btree ("received_at") WHERE "webhook_events"."raw_body" <> '';--> statement-breakpoint
CREATE INDEX "messages_undispatched_idx" ON "messages" USING btree ("created_at") WHERE "messages"."dispatched_at" is null and "messages"."triggers_automation" and "messages"."dead_at" is null;