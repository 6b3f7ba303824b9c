ALTER TABLE "channels" ADD COLUMN "watched_at" timestamp with time zone;--> statement-breakpoint
-- Channel states in zapflow's words (src/domain/channelState.ts), not Evolution's: stored
-- values from before are translated once. `close` without its reason was an outage Evolution
-- reconnects from; `refused` (QR attempts exhausted) needs a new QR.
UPDATE "channels" SET "connection_state" = CASE "connection_state"
  WHEN 'open' THEN 'connected'
  WHEN 'close' THEN 'disconnected'
  WHEN 'refused' THEN 'closed'
  ELSE "connection_state" END
 WHERE "connection_state" IN ('open', 'close', 'refused');--> statement-breakpoint
UPDATE "channels" SET "down_since" = coalesce("connection_updated_at", now())
 WHERE "connection_state" IN ('disconnected', 'closed') AND "down_since" IS NULL;
