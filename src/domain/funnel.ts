/**
 * The funnel definition schema: what a tenant saves, validated before it is stored.
 * Durations come in as `5s`/`2d`/ms and are stored in ms. Rejections carry the exact path
 * of the problem (`steps.3.next`).
 */
import { z } from 'zod';
import { parseDuration } from './duration';
import type { FunnelDefinition, FunnelStep } from './funnelTypes';
import { regexProblem } from './safeRegex';

const durationMs = (what: string) =>
  z.union([z.string(), z.number()]).transform((value, ctx) => {
    const ms = parseDuration(value);
    if (ms === null || ms <= 0) {
      ctx.addIssue({ code: 'custom', message: `${what} must be a positive duration (e.g. 30s, 5m, 2d)` });
      return z.NEVER;
    }
    return ms;
  });

const matchMode = z.enum(['equals', 'contains', 'startsWith', 'regex']).default('equals');
const stepId = z.string().trim().min(1, 'is required').max(64).regex(/^[\w.-]+$/, 'use letters, digits, _ . -');
const nonEmpty = (what: string) => z.string().refine((s) => s.trim().length > 0, `${what} must not be empty`);

const button = z.object({ id: z.string().min(1).max(256), title: nonEmpty('title').pipe(z.string().max(20, 'at most 20 characters')) });

const message = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text'), text: nonEmpty('text').pipe(z.string().max(4096, 'at most 4096 characters')), previewUrl: z.boolean().optional() }),
  z.object({
    type: z.literal('media'),
    mediaType: z.enum(['image', 'video', 'document', 'audio']),
    url: z.url(),
    caption: z.string().max(1024).optional(),
    fileName: z.string().optional(),
  }),
  z.object({
    type: z.literal('buttons'),
    text: nonEmpty('text').pipe(z.string().max(1024)),
    title: z.string().max(60).optional(),
    footer: z.string().max(60).optional(),
    buttons: z.array(button).min(1, 'at least one button').max(3, 'at most 3 reply buttons'),
  }),
  z.object({
    type: z.literal('list'),
    text: nonEmpty('text').pipe(z.string().max(4096)),
    buttonText: nonEmpty('buttonText').pipe(z.string().max(20)),
    title: z.string().max(60).optional(),
    footer: z.string().max(60).optional(),
    sections: z
      .array(
        z.object({
          title: z.string().max(24),
          rows: z.array(z.object({ id: z.string().min(1).max(200), title: nonEmpty('title').pipe(z.string().max(24)), description: z.string().max(72).optional() })).min(1),
        }),
      )
      .min(1)
      .max(10)
      .refine((sections) => sections.reduce((n, s) => n + s.rows.length, 0) <= 10, 'at most 10 rows in total'),
  }),
  z.object({ type: z.literal('template'), name: nonEmpty('name'), language: z.string().default('pt_BR'), variables: z.array(z.string()).optional() }),
]);

const next = stepId.optional();

const step = z.discriminatedUnion('type', [
  z.object({ id: stepId, type: z.literal('send'), message, next }),
  z
    .object({
      id: stepId,
      type: z.literal('delay'),
      duration: durationMs('duration').optional(),
      until: z.string().regex(/^([01]?\d|2[0-3]):[0-5]\d$/, 'must be HH:MM (24h)').optional(),
      next,
    })
    .refine((s) => (s.duration === undefined) !== (s.until === undefined), { message: 'give exactly one of duration or until', path: ['duration'] })
    .transform(({ duration, until, ...rest }) => ({ ...rest, durationMs: duration, untilTime: until })),
  z
    .object({ id: stepId, type: z.literal('typing'), duration: durationMs('duration'), next })
    .transform(({ duration, ...rest }) => ({ ...rest, durationMs: duration })),
  z
    .object({
      id: stepId,
      type: z.literal('waitForReply'),
      timeout: durationMs('timeout'),
      branches: z
        .array(
          z
            .object({ button: z.string().min(1).optional(), keyword: z.string().min(1).optional(), match: matchMode.optional(), next: stepId })
            .refine((b) => b.button !== undefined || b.keyword !== undefined, 'a branch needs a button or a keyword')
            .superRefine((b, ctx) => {
              // Compiled now, like a trigger's: the 400 names the branch's field.
              if (b.match !== 'regex') return;
              for (const field of ['button', 'keyword'] as const) {
                const problem = b[field] === undefined ? undefined : regexProblem(b[field]);
                if (problem) ctx.addIssue({ code: 'custom', path: [field], message: problem });
              }
            }),
        )
        .default([]),
      default: stepId.optional(),
      onTimeout: stepId.optional(),
      saveAs: z.string().regex(/^\w+$/).optional(),
      next,
    })
    .transform(({ timeout, ...rest }) => ({ ...rest, timeoutMs: timeout })),
  z.object({ id: stepId, type: z.literal('tag'), tags: z.array(nonEmpty('tag')).min(1), next }),
  z.object({ id: stepId, type: z.literal('untag'), tags: z.array(nonEmpty('tag')).min(1), next }),
  z.object({ id: stepId, type: z.literal('set'), variable: z.string().regex(/^\w+$/, 'letters, digits and _'), value: z.string(), next }),
  z.object({ id: stepId, type: z.literal('handover'), note: z.string().optional() }),
  z.object({ id: stepId, type: z.literal('goto'), target: stepId }),
  z.object({ id: stepId, type: z.literal('end') }),
]);

/** Steps that make a loop safe: something waits between two passes. */
const WAITS = new Set(['delay', 'waitForReply']);

/** Successors of a step, with the field each edge comes from (for error paths). */
export function successors(steps: FunnelStep[], index: number): Array<{ field: string; id: string }> {
  const s = steps[index];
  const following = steps[index + 1]?.id;
  const fallThrough = (explicit?: string) => (explicit ? [{ field: 'next', id: explicit }] : following ? [{ field: 'next', id: following }] : []);
  switch (s.type) {
    case 'goto':
      return [{ field: 'target', id: s.target }];
    case 'end':
    case 'handover':
      return [];
    case 'waitForReply':
      return [
        ...s.branches.map((b, i) => ({ field: `branches.${i}.next`, id: b.next })),
        ...(s.default ? [{ field: 'default', id: s.default }] : []),
        ...(s.onTimeout ? [{ field: 'onTimeout', id: s.onTimeout }] : []),
        ...fallThrough(s.next),
      ];
    default:
      return fallThrough(s.next);
  }
}

function checkGraph(steps: FunnelStep[], ctx: z.RefinementCtx): void {
  const index = new Map<string, number>();
  let broken = false;
  steps.forEach((s, i) => {
    if (index.has(s.id)) {
      broken = true;
      ctx.addIssue({ code: 'custom', path: ['steps', i, 'id'], message: `duplicate step id "${s.id}"` });
    } else index.set(s.id, i);
  });
  if (broken) return; // references are ambiguous until ids are unique
  steps.forEach((_, i) => {
    for (const edge of successors(steps, i)) {
      if (!index.has(edge.id)) {
        broken = true;
        ctx.addIssue({ code: 'custom', path: ['steps', i, ...edge.field.split('.').map((p) => (/^\d+$/.test(p) ? Number(p) : p))], message: `points to a missing step "${edge.id}"` });
      }
    }
  });
  if (broken) return;
  // A cycle through steps that never wait would send or loop forever without pause.
  const state = new Map<number, 'visiting' | 'done'>();
  const stack: number[] = [];
  const visit = (i: number): boolean => {
    state.set(i, 'visiting');
    stack.push(i);
    if (!WAITS.has(steps[i].type)) {
      for (const edge of successors(steps, i)) {
        const j = index.get(edge.id)!;
        if (WAITS.has(steps[j].type)) continue;
        if (state.get(j) === 'visiting') {
          const cycle = stack.slice(stack.indexOf(j)).map((k) => steps[k].id);
          ctx.addIssue({ code: 'custom', path: ['steps', j], message: `loop without a wait: ${[...cycle, steps[j].id].join(' → ')}` });
          return true;
        }
        if (!state.has(j) && visit(j)) return true;
      }
    }
    stack.pop();
    state.set(i, 'done');
    return false;
  };
  for (let i = 0; i < steps.length; i++) if (!state.has(i) && visit(i)) return;
}

export const funnelSchema = z
  .object({
    name: nonEmpty('name').pipe(z.string().max(120)),
    active: z.boolean().default(true),
    priority: z.number().int().min(-1000).max(1000).default(0),
    trigger: z.object({
      type: z.enum(['button', 'keyword']),
      phrase: nonEmpty('phrase').pipe(z.string().max(256)),
      match: matchMode,
    }),
    reentry: z.enum(['ignore', 'restart', 'parallel']).default('ignore'),
    cooldown: durationMs('cooldown').optional(),
    channelId: z.uuid().optional(),
    steps: z.array(step).min(1, 'a funnel needs at least one step').max(200),
  })
  .superRefine((value, ctx) => {
    if (value.trigger.match === 'regex') {
      const problem = regexProblem(value.trigger.phrase);
      if (problem) ctx.addIssue({ code: 'custom', path: ['trigger', 'phrase'], message: problem });
    }
    checkGraph(value.steps, ctx);
  })
  .transform(({ cooldown, ...rest }): FunnelDefinition => ({ ...rest, cooldownMs: cooldown, steps: rest.steps }));

export type FunnelInput = z.input<typeof funnelSchema>;
