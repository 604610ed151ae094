import cliProgress from 'cli-progress';

/** What a phase has done so far: `done` of `total` drives the bar and the ETA, `count` is what a person counts. */
export interface PhaseState {
  label: string;
  done: number;
  /** 0 when unknown: no bar and no ETA, only the count and its rate. */
  total: number;
  count: number;
  unit: string;
}

export interface PhaseOptions {
  /** Units of `done` in the phase: bytes of a file for an import, rows or schemas elsewhere. */
  total?: number;
  /** What `count` counts (default rows): shown as `N rows` and `N rows/s`. */
  unit?: string;
  /**
   * The plain line of a state, printed at most once a second when stderr is not a terminal, and kept above the
   * bar when the phase ends. null: the phase's notes already say everything a log needs.
   */
  line?: ((state: PhaseState) => string) | null;
}

/** The one progress reporter of the long commands; everything it writes goes to stderr. */
export interface Progress {
  /** Starts a phase, ending the one before. */
  phase(label: string, options?: PhaseOptions): void;
  /** `done` units of the phase's total; `count` of its unit (default: `done`). */
  update(done: number, count?: number): void;
  /** Ends the phase without starting another: its last state is written before what follows. */
  endPhase(): void;
  /** An event line of its own (a table copied, a source verified): printed as is, above the bar when there is one. */
  note(line: string): void;
  /** Stops and clears the bar; later calls only print notes. Call it before printing the result, and on failure. */
  stop(): void;
}

const PLAIN_INTERVAL_MS = 1000;

const defaultLine = (state: PhaseState) => `${state.label}: ${state.count} ${state.unit}${state.total > 0 ? ` of ${state.total}` : ''}`;

/**
 * With --json nothing at all: a script reads stdout and should not have to filter stderr either. Otherwise a bar
 * when stderr is a terminal, plain lines when it is a file or a pipe (a log keeps every line; a bar's redraws
 * would be noise there).
 */
export function createProgress(options: { json?: boolean; stream?: NodeJS.WriteStream } = {}): Progress {
  const stream = options.stream ?? process.stderr;
  if (options.json) return silent;
  return stream.isTTY ? new BarProgress(stream) : new PlainProgress(stream);
}

const silent: Progress = {
  phase: () => undefined,
  update: () => undefined,
  endPhase: () => undefined,
  note: () => undefined,
  stop: () => undefined,
};

class PlainProgress implements Progress {
  private state: PhaseState | null = null;
  private lineOf: PhaseOptions['line'] = null;
  private lastWrite = 0;
  private unwritten = false;

  constructor(private readonly stream: NodeJS.WritableStream) {}

  phase(label: string, options: PhaseOptions = {}): void {
    this.endPhase();
    this.state = { label, done: 0, total: options.total ?? 0, count: 0, unit: options.unit ?? 'rows' };
    this.lineOf = options.line === undefined ? defaultLine : options.line;
  }

  update(done: number, count = done): void {
    if (!this.state) return;
    this.state.done = done;
    this.state.count = count;
    this.unwritten = true;
    if (Date.now() - this.lastWrite >= PLAIN_INTERVAL_MS) this.flush();
  }

  endPhase(): void {
    // The throttle may have swallowed the last state; a log should end on the final figures.
    this.flush();
    this.state = null;
  }

  note(line: string): void {
    this.flush();
    this.stream.write(`${line}\n`);
  }

  stop(): void {
    this.endPhase();
  }

  private flush(): void {
    if (!this.unwritten || !this.state) return;
    this.unwritten = false;
    if (!this.lineOf) return;
    this.lastWrite = Date.now();
    this.stream.write(`${this.lineOf(this.state)}\n`);
  }
}

/** The bar's state beside cli-progress's own: rates and ETA are figured at the last update, see `barLine`. */
interface BarPayload extends PhaseState {
  startedAt: number;
  updatedAt: number;
}

class BarProgress implements Progress {
  private readonly bars: cliProgress.MultiBar;
  private bar: cliProgress.SingleBar | null = null;
  private payload: BarPayload | null = null;
  private lineOf: PhaseOptions['line'] = null;
  private updated = false;
  private stopped = false;

  constructor(private readonly stream: NodeJS.WriteStream) {
    this.bars = new cliProgress.MultiBar({
      stream,
      format: barLine,
      // Neither hides the cursor nor turns off the terminal's line wrapping (the bar is cut to its width instead):
      // a process killed mid-run leaves the terminal as it found it.
      hideCursor: false,
      linewrap: true,
      clearOnComplete: true,
      fps: 10,
    });
  }

  phase(label: string, options: PhaseOptions = {}): void {
    if (this.stopped) return;
    this.endPhase();
    const now = Date.now();
    this.payload = { label, done: 0, total: options.total ?? 0, count: 0, unit: options.unit ?? 'rows', startedAt: now, updatedAt: now };
    this.lineOf = options.line === undefined ? defaultLine : options.line;
    this.updated = false;
    if (this.bar) this.bar.start(this.payload.total, 0, this.payload);
    else this.bar = this.bars.create(this.payload.total, 0, this.payload);
  }

  update(done: number, count = done): void {
    if (this.stopped || !this.bar || !this.payload) return;
    this.payload.done = done;
    this.payload.count = count;
    this.payload.updatedAt = Date.now();
    this.updated = true;
    this.bar.update(done, this.payload);
  }

  endPhase(): void {
    // The finished phase stays on screen as its plain line; the bar moves on to the next one.
    if (this.payload && this.updated && this.lineOf) this.bars.log(`${this.lineOf(this.payload)}\n`);
    this.updated = false;
    this.lineOf = null;
  }

  note(line: string): void {
    if (this.bar && !this.stopped) this.bars.log(`${line}\n`);
    else this.stream.write(`${line}\n`);
  }

  stop(): void {
    if (this.stopped) return;
    this.endPhase();
    this.stopped = true;
    if (!this.bar) return;
    // cli-progress writes logged lines only when it redraws; one last redraw puts them out before the bar is cleared.
    this.bars.update();
    this.bars.stop();
  }
}

const MIN_BAR = 10;
const MAX_BAR = 30;
/** `100% | 1234567 rows | 123456 rows/s | ETA 12m34s` and the brackets around the bar. */
const FIGURES_WIDTH = 52;

function barLine(_options: cliProgress.Options, params: cliProgress.Params, payload: BarPayload): string {
  const elapsed = (payload.updatedAt - payload.startedAt) / 1000;
  // The rate of the work done until the last update, not until now: it stays put while a phase waits on a step that
  // reports nothing (an import's merge), and the ETA counts down from the last update.
  const rate = elapsed > 0 && payload.count > 0 ? `${Math.round(payload.count / elapsed)}` : '-';
  const parts = [`${payload.count} ${payload.unit}`, `${rate} ${payload.unit}/s`];
  if (payload.total > 0) {
    const speed = elapsed > 0 ? payload.done / elapsed : 0;
    const remaining = speed > 0 ? Math.max(0, (payload.total - payload.done) / speed - (Date.now() - payload.updatedAt) / 1000) : null;
    parts.push(`ETA ${remaining === null ? '-' : duration(remaining)}`);
    const percent = String(Math.floor(params.progress * 100)).padStart(3);
    const text = `${percent}% | ${parts.join(' | ')}`;
    // The bar takes what room the figures usually leave: cli-progress cuts a line at the terminal's width, and the
    // figures (the ETA last) matter more than the bar. Sized from the width alone, so it does not twitch as they change.
    const size = Math.max(MIN_BAR, Math.min(MAX_BAR, params.maxWidth - payload.label.length - FIGURES_WIDTH));
    const filled = Math.round(params.progress * size);
    return `${payload.label} [${'='.repeat(filled)}${'-'.repeat(size - filled)}] ${text}`;
  }
  return `${payload.label} | ${parts.join(' | ')}`;
}

function duration(seconds: number): string {
  const s = Math.ceil(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
