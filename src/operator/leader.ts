/**
 * Leader election through a coordination.k8s.io/v1 Lease (client-node ships none). The rules
 * client-go uses: the holder renews every retryPeriod; if it cannot renew within renewDeadline it
 * stops acting at once, which is before leaseDuration runs out, so a second replica takes the
 * Lease only after the first stopped. Writes carry the resourceVersion read: two candidates
 * racing for an expired Lease get one 200 and one 409. Released (holder cleared) on shutdown.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Kube } from './kube.ts';
import { statusCode } from './kube.ts';

export interface LeaderOptions {
  namespace: string;
  name: string;
  identity?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  onChange?: (leader: boolean) => void;
  /** A failed Lease read or write (the API server unreachable, RBAC): logged by the caller. */
  onError?: (error: unknown) => void;
}

// biome-ignore lint/suspicious/noExplicitAny: Lease model at the client boundary
type Any = any;

/**
 * A Lease's times are MicroTime, which the API server parses with exactly six fractional digits;
 * the client passes this type through as given, so it gets the text, not a Date.
 */
export function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaderElector {
  readonly identity: string;
  private leader = false;
  private lastRenew = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly kube: Kube;
  private readonly o: Required<Omit<LeaderOptions, 'onChange' | 'onError' | 'identity'>> &
    Pick<LeaderOptions, 'onChange' | 'onError'>;

  constructor(kube: Kube, options: LeaderOptions) {
    this.kube = kube;
    this.identity = options.identity ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.o = {
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      ...options,
    };
  }

  /** True only while the Lease is ours and renewed within the renew deadline. */
  isLeader(): boolean {
    if (this.leader && Date.now() - this.lastRenew > this.o.renewDeadlineMs) this.set(false);
    return this.leader;
  }

  private set(leader: boolean): void {
    if (leader === this.leader) return;
    this.leader = leader;
    this.o.onChange?.(leader);
  }

  start(): void {
    const tick = async () => {
      if (this.stopped) return;
      try {
        if (await this.tryAcquireOrRenew()) this.lastRenew = Date.now();
      } catch (e) {
        // an unreachable API server is not a lost Lease yet: isLeader() applies the renew deadline
        this.o.onError?.(e);
      }
      this.isLeader(); // applies the renew deadline
      if (!this.stopped) this.timer = setTimeout(tick, this.o.retryPeriodMs);
    };
    void tick();
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name } = this.o;
    const now = new Date();
    const spec = (transitions: number, acquire: string) => ({
      holderIdentity: this.identity,
      leaseDurationSeconds: Math.ceil(this.o.leaseDurationMs / 1000),
      acquireTime: acquire,
      renewTime: microTime(now),
      leaseTransitions: transitions,
    });
    let lease: Any;
    try {
      lease = await this.kube.coordination.readNamespacedLease({ namespace, name });
    } catch (e) {
      if (statusCode(e) !== 404) throw e;
      try {
        await this.kube.coordination.createNamespacedLease({
          namespace,
          body: { metadata: { name, namespace }, spec: spec(0, microTime(now)) } as Any,
        });
        this.lastRenew = Date.now();
        this.set(true);
        return true;
      } catch (e2) {
        if (statusCode(e2) === 409) return false;
        throw e2;
      }
    }
    const s = lease.spec ?? {};
    const holder: string | undefined = s.holderIdentity || undefined;
    const renewed = s.renewTime ? new Date(s.renewTime).getTime() : 0;
    const expired = renewed + (s.leaseDurationSeconds ?? 15) * 1000 < now.getTime();
    if (holder && holder !== this.identity && !expired) {
      this.set(false);
      return false;
    }
    const mine = holder === this.identity;
    lease.spec = spec(
      (s.leaseTransitions ?? 0) + (mine ? 0 : 1),
      mine && s.acquireTime ? microTime(new Date(s.acquireTime)) : microTime(now),
    );
    try {
      await this.kube.coordination.replaceNamespacedLease({ namespace, name, body: lease });
    } catch (e) {
      if (statusCode(e) === 409) {
        this.set(false);
        return false;
      }
      throw e;
    }
    this.lastRenew = Date.now();
    this.set(true);
    return true;
  }

  /** Stops renewing and, if it holds the Lease, gives it up so a standby takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (!this.leader) return;
    this.set(false);
    const { namespace, name } = this.o;
    try {
      const lease: Any = await this.kube.coordination.readNamespacedLease({ namespace, name });
      if (lease.spec?.holderIdentity !== this.identity) return;
      lease.spec = { ...lease.spec, holderIdentity: null, leaseDurationSeconds: 1, renewTime: microTime(new Date()) };
      if (lease.spec.acquireTime) lease.spec.acquireTime = microTime(new Date(lease.spec.acquireTime));
      await this.kube.coordination.replaceNamespacedLease({ namespace, name, body: lease });
    } catch {
      // the Lease expires on its own
    }
  }
}
