/**
 * One queue of model steps per loaded model, ordered for the person typing: every forward pass
 * and scoring-head pass is a step; steps of *interactive* work (the panel's distribution at the
 * cursor, ghost text) run before steps of *background* work (sentence scoring, the report's
 * comparison, whole-document scoring), and within a class the owners (windows) take turns, one
 * step each, so one window's long document cannot starve another's. Background work is cut into
 * small steps (see Engine.run), so a keystroke waits at most one of them; and after
 * MAX_INTERACTIVE_STREAK interactive steps in a row one background step runs, so typing that never
 * pauses cannot starve scoring either.
 *
 * Which class and owner a step belongs to is carried by the request that caused it (an
 * AsyncLocalStorage context set where the request enters the model process), so the core's
 * functions need no extra parameter threaded through every call.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { CancelledError } from './errors';
import { traceStep, tracing } from './stepTrace';

export type WorkClass = 'interactive' | 'background';

export interface WorkTag {
  class: WorkClass;
  /** Who asked (a window's connection); owners of one class take turns step by step. */
  owner: string;
}

/** Work with no tag (the CLI, tests, the benchmark's core rows) is one interactive owner. */
const UNTAGGED: WorkTag = { class: 'interactive', owner: '' };
const storage = new AsyncLocalStorage<WorkTag>();
/** Requests that entered the model process (tagged work started), cancelled ones included. */
let arrivals = 0;

/** Runs `work` (and every step it causes, however deep) as `tag`'s. */
export function withWork<T>(tag: WorkTag, work: () => T): T {
  arrivals++;
  return storage.run(tag, work);
}

/** Most turns of the event loop a step waits for requests still arriving (a burst of keystrokes read at once). */
const MAX_SETTLE_TURNS = 32;

export function currentWork(): WorkTag {
  return storage.getStore() ?? UNTAGGED;
}

interface Job {
  tag: WorkTag;
  start: () => void;
  /** Rejects a job that was cancelled while queued (it leaves the queue at once). */
  cancel: () => void;
}

/**
 * Interactive steps that may run in a row while background work waits: then one background step
 * runs. Typing faster than the model answers would otherwise starve sentence scoring forever; a
 * keystroke then waits for at most that one background step. 16 (one ghost-text completion
 * uninterrupted) measured no better for ghost text (W15a p50 1.7 vs 1.8 s) and let a window
 * typing faster than the model answers hold back another's scoring twice as much (W13 0.25 vs
 * 0.49, W12 p99 2.1 vs 0.8 s) on the loaded bench machine.
 */
export const MAX_INTERACTIVE_STREAK = 4;

export interface SchedulerStats {
  /** Steps finished since the scheduler was made. */
  steps: number;
  /** performance.now() when the last step finished (or the scheduler was made). */
  lastProgressAt: number;
  queued: Record<WorkClass, number>;
}

export class Scheduler {
  /** Per class: owners in turn order, each with its FIFO of queued jobs. */
  private readonly queues: Record<WorkClass, Map<string, Job[]>> = { interactive: new Map(), background: new Map() };
  private running = false;
  /** A step waits for the event loop to turn (see next()); `yielded` once it has. */
  private yielding = false;
  private yielded = false;
  /** Interactive steps started in a row while background work waited. */
  private streak = 0;
  private steps = 0;
  private lastProgressAt = performance.now();

  /**
   * Queues `step` under the caller's tag; it starts when no step runs and none of a higher class or earlier turn waits.
   * `what` describes the step for the step trace only (LM_LENS_STEP_TRACE, see stepTrace.ts).
   */
  run<T>(step: () => Promise<T>, signal?: AbortSignal, tag: WorkTag = currentWork(), what?: Record<string, unknown>): Promise<T> {
    if (signal?.aborted) return Promise.reject(new CancelledError());
    const queuedAt = tracing ? performance.now() : 0;
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => job.cancel();
      const job: Job = {
        tag,
        start: () => {
          signal?.removeEventListener('abort', onAbort);
          this.running = true;
          const startedAt = tracing ? performance.now() : 0;
          const traced = (): void => {
            if (tracing) traceStep('step', { ...tag, ...what, queuedMs: startedAt - queuedAt, ms: performance.now() - startedAt });
          };
          // The step counts as progress before its caller hears of it.
          Promise.resolve()
            .then(step)
            .then(
              (value) => {
                traced();
                this.finish();
                resolve(value);
              },
              (error: unknown) => {
                traced();
                this.finish();
                reject(error);
              },
            );
        },
        cancel: () => {
          if (this.remove(job)) reject(new CancelledError());
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const owners = this.queues[tag.class];
      const queue = owners.get(tag.owner);
      if (queue) queue.push(job);
      else owners.set(tag.owner, [job]);
      this.next();
    });
  }

  stats(): SchedulerStats {
    const count = (work: WorkClass): number => [...this.queues[work].values()].reduce((sum, jobs) => sum + jobs.length, 0);
    return { steps: this.steps, lastProgressAt: this.lastProgressAt, queued: { interactive: count('interactive'), background: count('background') } };
  }

  private finish(): void {
    this.running = false;
    this.steps++;
    this.lastProgressAt = performance.now();
    this.next();
  }

  /**
   * Starts the next step. A forward pass blocks this thread while it runs (onnxruntime-node runs
   * a session synchronously), so requests that arrive meanwhile are still unread when it ends,
   * and vscode-jsonrpc then dispatches them one per turn of the event loop. Before each step the
   * scheduler lets the loop turn until a turn brings no new request (at least twice: the socket
   * is read, then the message dispatched): a keystroke read during the last step is queued ahead
   * of the next background step, and of a whole backlog only the newest keystroke runs (the
   * older ones are cancelled as they are dispatched, before any step of theirs).
   */
  private next(): void {
    if (this.running || this.yielding) return;
    const waiting = (work: WorkClass): boolean => this.queues[work].size > 0;
    if (!waiting('interactive') && !waiting('background')) return;
    if (!this.yielded) {
      this.settle();
      return;
    }
    this.yielded = false;
    const work: WorkClass = waiting('interactive') && !(waiting('background') && this.streak >= MAX_INTERACTIVE_STREAK) ? 'interactive' : 'background';
    this.streak = work === 'interactive' && waiting('background') ? this.streak + 1 : 0;
    const owners = this.queues[work];
    const [owner, jobs] = owners.entries().next().value as [string, Job[]];
    const job = jobs.shift() as Job;
    // The owner goes to the back of its class's turn order (Map keeps insertion order).
    owners.delete(owner);
    if (jobs.length > 0) owners.set(owner, jobs);
    job.start();
  }

  private settle(): void {
    this.yielding = true;
    let turns = 0;
    let seen = arrivals;
    const turn = (): void => {
      turns++;
      const quiet = arrivals === seen;
      seen = arrivals;
      if (turns < 2 || (!quiet && turns < MAX_SETTLE_TURNS)) {
        setImmediate(turn);
        return;
      }
      this.yielding = false;
      this.yielded = true;
      this.next();
    };
    setImmediate(turn);
  }

  private remove(job: Job): boolean {
    const owners = this.queues[job.tag.class];
    const jobs = owners.get(job.tag.owner);
    const index = jobs ? jobs.indexOf(job) : -1;
    if (!jobs || index < 0) return false;
    jobs.splice(index, 1);
    if (jobs.length === 0) owners.delete(job.tag.owner);
    return true;
  }
}
