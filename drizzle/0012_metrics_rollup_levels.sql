ALTER TABLE "metrics_daily" DROP CONSTRAINT "metrics_daily_tenant_id_day_channel_id_funnel_id_campaign_id_pk";--> statement-breakpoint
ALTER TABLE "metrics_funnel_steps_daily" DROP CONSTRAINT "metrics_funnel_steps_daily_tenant_id_funnel_id_day_step_id_pk";--> statement-breakpoint
ALTER TABLE "metrics_funnel_steps_hourly" DROP CONSTRAINT "metrics_funnel_steps_hourly_tenant_id_funnel_id_bucket_start_step_id_pk";--> statement-breakpoint
ALTER TABLE "metrics_hourly" DROP CONSTRAINT "metrics_hourly_tenant_id_bucket_start_channel_id_funnel_id_campaign_id_pk";--> statement-breakpoint
ALTER TABLE "metrics_daily" ADD COLUMN "dimension" text NOT NULL;--> statement-breakpoint
ALTER TABLE "metrics_hourly" ADD COLUMN "dimension" text NOT NULL;--> statement-breakpoint
ALTER TABLE "metrics_daily" ADD CONSTRAINT "metrics_daily_tenant_id_dimension_day_channel_id_funnel_id_campaign_id_pk" PRIMARY KEY("tenant_id","dimension","day","channel_id","funnel_id","campaign_id");--> statement-breakpoint
ALTER TABLE "metrics_funnel_steps_daily" ADD CONSTRAINT "metrics_funnel_steps_daily_tenant_id_day_funnel_id_step_id_pk" PRIMARY KEY("tenant_id","day","funnel_id","step_id");--> statement-breakpoint
ALTER TABLE "metrics_funnel_steps_hourly" ADD CONSTRAINT "metrics_funnel_steps_hourly_tenant_id_bucket_start_funnel_id_step_id_pk" PRIMARY KEY("tenant_id","bucket_start","funnel_id","step_id");--> statement-breakpoint
ALTER TABLE "metrics_hourly" ADD CONSTRAINT "metrics_hourly_tenant_id_dimension_bucket_start_channel_id_funnel_id_campaign_id_pk" PRIMARY KEY("tenant_id","dimension","bucket_start","channel_id","funnel_id","campaign_id");