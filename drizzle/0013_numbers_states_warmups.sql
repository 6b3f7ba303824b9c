CREATE TABLE "channel_state_changes" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"tenant_id" uuid NOT NULL,
	"channel_id" uuid NOT NULL,
	"state" text NOT NULL,
	"previous" text,
	"reason" text,
	"at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "warmup_rounds" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"warmup_id" uuid NOT NULL,
	"tenant_id" uuid NOT NULL,
	"day" date NOT NULL,
	"initiator_channel_id" uuid,
	"responder_channel_id" uuid,
	"messages" integer DEFAULT 0 NOT NULL,
	"status" text NOT NULL,
	"reason" text,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "warmups" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant_id" uuid NOT NULL,
	"name" text,
	"channel_ids" uuid[] NOT NULL,
	"definition" jsonb NOT NULL,
	"status" text DEFAULT 'running' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "channels" ADD COLUMN "phone_number" text;--> statement-breakpoint
ALTER TABLE "channels" ADD COLUMN "quality_rating" text;--> statement-breakpoint
ALTER TABLE "channels" ADD COLUMN "messaging_limit" text;--> statement-breakpoint
ALTER TABLE "channels" ADD COLUMN "down_since" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "channels" ADD COLUMN "alerted_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "channel_state_changes" ADD CONSTRAINT "channel_state_changes_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "channel_state_changes" ADD CONSTRAINT "channel_state_changes_channel_id_channels_id_fk" FOREIGN KEY ("channel_id") REFERENCES "public"."channels"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "warmup_rounds" ADD CONSTRAINT "warmup_rounds_warmup_id_warmups_id_fk" FOREIGN KEY ("warmup_id") REFERENCES "public"."warmups"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "warmups" ADD CONSTRAINT "warmups_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "channel_state_changes_channel_at_idx" ON "channel_state_changes" USING btree ("channel_id","at");--> statement-breakpoint
CREATE INDEX "warmup_rounds_warmup_idx" ON "warmup_rounds" USING btree ("warmup_id","started_at");--> statement-breakpoint
CREATE INDEX "warmups_tenant_idx" ON "warmups" USING btree ("tenant_id","created_at");