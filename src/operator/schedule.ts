/**
 * Operator-driven schedules (not CronJobs): the operator computes which scheduled time is due and
 * creates the Job for it under a name derived from that time, `<backup>-<unix minutes>`. A
 * restarted operator (or a second replica that slipped past leader election) computes the same
 * name and gets AlreadyExists: one scheduled time, at most one run. Like a CronJob with
 * concurrencyPolicy Forbid, a time that comes while a run is active is skipped, and only the most
 * recent missed time is run, within startingDeadlineSeconds.
 */
import { Cron } from 'croner';

export const DEFAULT_STARTING_DEADLINE_SECS = 3600;

export interface Schedule {
  cron: string;
  timeZone?: string;
  suspend?: boolean;
  startingDeadlineSeconds?: number;
}

export class ScheduleError extends Error {}

function cronOf(s: Schedule): Cron {
  try {
    return new Cron(s.cron, { timezone: s.timeZone ?? 'UTC', paused: true, mode: '5-part' } as never);
  } catch (e) {
    throw new ScheduleError(`schedule.cron "${s.cron}" is not valid: ${(e as Error).message}`);
  }
}

/** Throws ScheduleError with a clear message when the cron or the time zone is not valid. */
export function checkSchedule(s: Schedule): void {
  if (s.timeZone !== undefined) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: s.timeZone });
    } catch {
      throw new ScheduleError(`schedule.timeZone "${s.timeZone}" is not an IANA time zone (e.g. Europe/Berlin, UTC)`);
    }
  }
  const next = cronOf(s).nextRun(new Date());
  if (!next) throw new ScheduleError(`schedule.cron "${s.cron}" never fires`);
}

export interface DueRun {
  /** The scheduled time to run now, if any. */
  due?: Date;
  /** Scheduled times passed over (too late, or the newest missed one is run instead). */
  missed: number;
  /** The next scheduled time after now. */
  next?: Date;
}

/**
 * Which scheduled time, after `since` (the last one handled, or the resource's creation) and not
 * after `now`, should run now.
 */
export function dueRun(s: Schedule, since: Date, now: Date): DueRun {
  const cron = cronOf(s);
  const next = cron.nextRun(now) ?? undefined;
  if (s.suspend) return { missed: 0, ...(next ? { next } : {}) };
  const times: Date[] = [];
  let t = cron.nextRun(since);
  while (t && t.getTime() <= now.getTime() && times.length < 10_000) {
    times.push(t);
    t = cron.nextRun(t);
  }
  const latest = times.at(-1);
  const deadlineMs = (s.startingDeadlineSeconds ?? DEFAULT_STARTING_DEADLINE_SECS) * 1000;
  const inTime = latest !== undefined && now.getTime() - latest.getTime() <= deadlineMs;
  return {
    ...(inTime ? { due: latest } : {}),
    missed: Math.max(0, times.length - (inTime ? 1 : 0)),
    ...(next ? { next } : {}),
  };
}

/** The Job name of a scheduled run: `<resource>-<unix minutes>`, at most 63 characters. */
export function scheduledJobName(resource: string, at: Date): string {
  return `${truncateName(resource, 52)}-${Math.floor(at.getTime() / 60_000)}`;
}

/** A name prefix cut to `max` characters, ending in a letter or digit. */
export function truncateName(name: string, max: number): string {
  return name.slice(0, max).replace(/[-.]+$/, '');
}
