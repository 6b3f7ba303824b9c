-- zapflow's own sends never go to a contact workflow: rows written before they were marked so leave the dispatcher's view.
UPDATE "messages" SET "triggers_automation" = false WHERE "author" = 'zapflow' AND "dispatched_at" IS NULL AND "triggers_automation";--> statement-breakpoint
DROP INDEX "messages_pending_dispatch_idx";--> statement-breakpoint
CREATE INDEX "messages_undispatched_idx" ON "messages" USING btree ("created_at") WHERE "messages"."dispatched_at" is null and "messages"."triggers_automation";
