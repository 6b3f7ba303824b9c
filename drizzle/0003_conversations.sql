CREATE TABLE "ai_interactions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant_id" uuid NOT NULL,
	"contact_key" text,
	"kind" text NOT NULL,
	"key" text NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"model" text,
	"attempts" integer DEFAULT 0 NOT NULL,
	"prompt_tokens" integer,
	"completion_tokens" integer,
	"input" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"output" jsonb,
	"error" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "knowledge_snippets" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant_id" uuid NOT NULL,
	"title" text,
	"content" text NOT NULL,
	"search_text" text NOT NULL,
	"search" "tsvector" GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, "search_text")) STORED,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "ai_text" text;--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "sentiment" real;--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "emotion" text;--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "satisfaction" integer;--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "analysed_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "ai_interactions" ADD CONSTRAINT "ai_interactions_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "knowledge_snippets" ADD CONSTRAINT "knowledge_snippets_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "ai_interactions_key_uq" ON "ai_interactions" USING btree ("key");--> statement-breakpoint
CREATE INDEX "ai_interactions_tenant_idx" ON "ai_interactions" USING btree ("tenant_id","created_at");--> statement-breakpoint
CREATE INDEX "knowledge_snippets_tenant_idx" ON "knowledge_snippets" USING btree ("tenant_id");--> statement-breakpoint
CREATE INDEX "knowledge_snippets_search_idx" ON "knowledge_snippets" USING gin ("search");