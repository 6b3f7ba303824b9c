CREATE TABLE "metrics_daily" (
	"tenant_id" uuid NOT NULL,
	"day" date NOT NULL,
	"channel_id" uuid NOT NULL,
	"funnel_id" uuid NOT NULL,
	"campaign_id" uuid NOT NULL,
	"sent" integer DEFAULT 0 NOT NULL,
	"received" integer DEFAULT 0 NOT NULL,
	"delivered" integer DEFAULT 0 NOT NULL,
	"read" integer DEFAULT 0 NOT NULL,
	"failed" integer DEFAULT 0 NOT NULL,
	"replies" integer DEFAULT 0 NOT NULL,
	"opt_outs" integer DEFAULT 0 NOT NULL,
	"resubscribed" integer DEFAULT 0 NOT NULL,
	"followups" integer DEFAULT 0 NOT NULL,
	"ai_replies" integer DEFAULT 0 NOT NULL,
	"handovers" integer DEFAULT 0 NOT NULL,
	"funnel_started" integer DEFAULT 0 NOT NULL,
	"funnel_completed" integer DEFAULT 0 NOT NULL,
	"funnel_failed" integer DEFAULT 0 NOT NULL,
	"campaign_sent" integer DEFAULT 0 NOT NULL,
	"campaign_skipped" integer DEFAULT 0 NOT NULL,
	"campaign_clicked" integer DEFAULT 0 NOT NULL,
	"frt_count" integer DEFAULT 0 NOT NULL,
	"frt_sum_ms" bigint DEFAULT 0 NOT NULL,
	"frt_le_10s" integer DEFAULT 0 NOT NULL,
	"frt_le_30s" integer DEFAULT 0 NOT NULL,
	"frt_le_1m" integer DEFAULT 0 NOT NULL,
	"frt_le_2m" integer DEFAULT 0 NOT NULL,
	"frt_le_5m" integer DEFAULT 0 NOT NULL,
	"frt_le_15m" integer DEFAULT 0 NOT NULL,
	"frt_le_30m" integer DEFAULT 0 NOT NULL,
	"frt_le_1h" integer DEFAULT 0 NOT NULL,
	"frt_le_2h" integer DEFAULT 0 NOT NULL,
	"frt_le_4h" integer DEFAULT 0 NOT NULL,
	"frt_le_8h" integer DEFAULT 0 NOT NULL,
	"frt_le_24h" integer DEFAULT 0 NOT NULL,
	"frt_over_24h" integer DEFAULT 0 NOT NULL,
	CONSTRAINT "metrics_daily_tenant_id_day_channel_id_funnel_id_campaign_id_pk" PRIMARY KEY("tenant_id","day","channel_id","funnel_id","campaign_id")
);
--> statement-breakpoint
CREATE TABLE "metrics_funnel_steps_daily" (
	"tenant_id" uuid NOT NULL,
	"funnel_id" uuid NOT NULL,
	"day" date NOT NULL,
	"step_id" text NOT NULL,
	"reached" integer DEFAULT 0 NOT NULL,
	CONSTRAINT "metrics_funnel_steps_daily_tenant_id_funnel_id_day_step_id_pk" PRIMARY KEY("tenant_id","funnel_id","day","step_id")
);
--> statement-breakpoint
CREATE TABLE "metrics_funnel_steps_hourly" (
	"tenant_id" uuid NOT NULL,
	"funnel_id" uuid NOT NULL,
	"bucket_start" timestamp with time zone NOT NULL,
	"step_id" text NOT NULL,
	"reached" integer DEFAULT 0 NOT NULL,
	CONSTRAINT "metrics_funnel_steps_hourly_tenant_id_funnel_id_bucket_start_step_id_pk" PRIMARY KEY("tenant_id","funnel_id","bucket_start","step_id")
);
--> statement-breakpoint
CREATE TABLE "metrics_hourly" (
	"tenant_id" uuid NOT NULL,
	"bucket_start" timestamp with time zone NOT NULL,
	"channel_id" uuid NOT NULL,
	"funnel_id" uuid NOT NULL,
	"campaign_id" uuid NOT NULL,
	"sent" integer DEFAULT 0 NOT NULL,
	"received" integer DEFAULT 0 NOT NULL,
	"delivered" integer DEFAULT 0 NOT NULL,
	"read" integer DEFAULT 0 NOT NULL,
	"failed" integer DEFAULT 0 NOT NULL,
	"replies" integer DEFAULT 0 NOT NULL,
	"opt_outs" integer DEFAULT 0 NOT NULL,
	"resubscribed" integer DEFAULT 0 NOT NULL,
	"followups" integer DEFAULT 0 NOT NULL,
	"ai_replies" integer DEFAULT 0 NOT NULL,
	"handovers" integer DEFAULT 0 NOT NULL,
	"funnel_started" integer DEFAULT 0 NOT NULL,
	"funnel_completed" integer DEFAULT 0 NOT NULL,
	"funnel_failed" integer DEFAULT 0 NOT NULL,
	"campaign_sent" integer DEFAULT 0 NOT NULL,
	"campaign_skipped" integer DEFAULT 0 NOT NULL,
	"campaign_clicked" integer DEFAULT 0 NOT NULL,
	"frt_count" integer DEFAULT 0 NOT NULL,
	"frt_sum_ms" bigint DEFAULT 0 NOT NULL,
	"frt_le_10s" integer DEFAULT 0 NOT NULL,
	"frt_le_30s" integer DEFAULT 0 NOT NULL,
	"frt_le_1m" integer DEFAULT 0 NOT NULL,
	"frt_le_2m" integer DEFAULT 0 NOT NULL,
	"frt_le_5m" integer DEFAULT 0 NOT NULL,
	"frt_le_15m" integer DEFAULT 0 NOT NULL,
	"frt_le_30m" integer DEFAULT 0 NOT NULL,
	"frt_le_1h" integer DEFAULT 0 NOT NULL,
	"frt_le_2h" integer DEFAULT 0 NOT NULL,
	"frt_le_4h" integer DEFAULT 0 NOT NULL,
	"frt_le_8h" integer DEFAULT 0 NOT NULL,
	"frt_le_24h" integer DEFAULT 0 NOT NULL,
	"frt_over_24h" integer DEFAULT 0 NOT NULL,
	CONSTRAINT "metrics_hourly_tenant_id_bucket_start_channel_id_funnel_id_campaign_id_pk" PRIMARY KEY("tenant_id","bucket_start","channel_id","funnel_id","campaign_id")
);
--> statement-breakpoint
CREATE TABLE "metrics_rollup_state" (
	"name" text PRIMARY KEY NOT NULL,
	"last_event_id" bigint DEFAULT 0 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "contact_imports" ADD COLUMN "duplicates" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "contact_imports" ADD COLUMN "heartbeat_at" timestamp with time zone DEFAULT now() NOT NULL;--> statement-breakpoint
ALTER TABLE "contacts" ADD COLUMN "name_search" "tsvector" GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, translate(lower(coalesce(name, '')), 'áàâãäéèêëíìîïóòôõöúùûüçñýÿÁÀÂÃÄÉÈÊËÍÌÎÏÓÒÔÕÖÚÙÛÜÇÑÝŸ', 'aaaaaeeeeiiiiooooouuuucnyyaaaaaeeeeiiiiooooouuuucnyy'))) STORED;--> statement-breakpoint
CREATE INDEX "contacts_name_search_idx" ON "contacts" USING gin ("name_search");--> statement-breakpoint
CREATE INDEX "contacts_tenant_opted_out_idx" ON "contacts" USING btree ("tenant_id","opted_out_at" DESC NULLS LAST,"id") WHERE "contacts"."opted_out_at" is not null;--> statement-breakpoint
CREATE UNIQUE INDEX "conversation_events_run_uq" ON "conversation_events" USING btree ("run_id","kind",coalesce("step_id", '')) WHERE "conversation_events"."run_id" is not null;