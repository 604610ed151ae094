// Seeded generator of large CSV exports (consolidated, authors, bookmarks) for the import benchmark.
// Same columns and quoting as scripts/make-sample.ts, but rows are streamed to disk so a million videos
// never sit in memory, and the edge cases come at benchmark scale (duplicates, rows without id, ...).
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { finished } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

export interface DatasetOptions {
  videos: number;
  authors?: number;
  bookmarkRatio?: number;
  seed?: number;
}

export interface DatasetFiles {
  consolidated: string;
  authors: string;
  bookmarks: string;
  bytes: number;
}

// Bump when the output format changes, so markers written by an older generator stop matching.
const FORMAT_VERSION = 1;
const MARKER = 'dataset.json';
const FILE_NAMES = { consolidated: 'consolidated.csv', authors: 'authors.csv', bookmarks: 'bookmarks.csv' } as const;
type FileKey = keyof typeof FILE_NAMES;
const FILE_KEYS = Object.keys(FILE_NAMES) as FileKey[];

const CONSOLIDATED_HEADER = ['c_videos_id', 'c_videos_authorid', 'c_authors_uniqueids', 'c_authors_nicknames',
  'c_texts_text_content', 'platform', 'csv_row_hash', 'video_path', 'cover_path', 'c_videos_createtime', 'c_videos_diggcount'];
const AUTHORS_HEADER = ['authors_id', 'authors_uniqueids', 'authors_nicknames', 'authors_followercount',
  'authors_heartcount', 'authors_videocount', 'authors_signature', 'authors_privateaccount'];
const BOOKMARKS_HEADER = ['bookmarks_bookmark_id', 'bookmarks_timestamp'];

// Shares of rows carrying each edge case. Per-row coin flips from the seeded stream keep generation single-pass.
const SHARE = {
  withoutAuthor: 0.03,
  duplicate: 0.01,
  exactDuplicate: 0.3, // of the duplicates: byte-identical, so an importer must count them as skipped
  multiLine: 0.002,
  nonAscii: 0.005,
  noPlatform: 0.04,
  noHash: 0.05,
  archivePaths: 0.1,
  orphanBookmark: 0.001, // bookmarks of videos absent from the consolidated file
  authorMissingFromFile: 0.02,
  authorListedTwice: 0.002,
};
// Duplicates repeat one of the last few thousand rows, so "later in the file" without remembering every row.
const RECENT_ROWS = 4096;

// ---------------------------------------------------------------------------------------------------------
// Randomness

/** splitmix32: a Weyl sequence through a murmur3-style finaliser. Seedable, unlike Math.random. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) | 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    z ^= z >>> 16;
    return (z >>> 0) / 4294967296;
  };
}

class Dice {
  constructor(readonly next: () => number) {}
  chance(p: number): boolean { return this.next() < p; }
  int(lo: number, hi: number): number { return lo + Math.floor(this.next() * (hi - lo + 1)); }
  pick<T>(items: readonly T[]): T { return items[Math.floor(this.next() * items.length)]!; }
  digits(n: number): string {
    let out = '';
    for (let i = 0; i < n; i++) out += this.int(0, 9);
    return out;
  }
  hex16(): string {
    const word = () => Math.floor(this.next() * 2 ** 32).toString(16).padStart(8, '0');
    return word() + word();
  }
  /** k distinct items, in random order. */
  some<T>(items: readonly T[], k: number): T[] {
    const pool = [...items];
    for (let i = pool.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      [pool[i], pool[j]] = [pool[j]!, pool[i]!];
    }
    return pool.slice(0, k);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Vocabulary

const FIRST_NAMES = ['Maya', 'Dev', 'Lena', 'Omar', 'Priya', 'Jonas', 'Chloe', 'Kenji', 'Sofia', 'Marcus', 'Ines', 'Tariq',
  'Hannah', 'Luca', 'Amara', 'Felix', 'Noor', 'Mateo', 'Yuki', 'Elif', 'Ravi', 'Zoe', 'Bruno', 'Aisha'];
const LAST_NAMES = ['Lopez', 'Patel', 'Nguyen', 'Schmidt', 'Okafor', 'Rossi', 'Kim', 'Brennan', 'Haddad', 'Larsen',
  'Moreau', 'Silva', 'Tanaka', 'Novak', 'Mensah', 'Kowalski'];
// Names only a few authors get, so non-ASCII also reaches the handle/name columns and the authors file.
const ACCENTED_NAMES = ['Zoë Müller', 'José Peña', 'Łucja Wójcik', 'Søren Ødegård', 'Çağla Yılmaz', 'Anaïs Lefèvre'];

const TOPICS = ['cooking', 'travel', 'music', 'coding', 'film', 'fitness'] as const;
type Topic = (typeof TOPICS)[number];

const HANDLE_WORDS: Record<Topic, readonly string[]> = {
  cooking: ['cooks', 'kitchen', 'eats', 'bakes'], travel: ['travels', 'roams', 'abroad', 'nomad'],
  music: ['beats', 'sings', 'keys', 'strings'], coding: ['codes', 'devlog', 'ships', 'hacks'],
  film: ['films', 'frames', 'reels', 'cuts'], fitness: ['lifts', 'runs', 'moves', 'fit'],
};

// Openers are 20-60 characters; several hold commas or double quotes so quoting is exercised constantly.
const OPENERS: Record<Topic, readonly string[]> = {
  cooking: ['Weeknight chickpea curry, one pot', 'The "lazy" way to make fresh pasta', 'Sourdough starter, day 6 update',
    'Three sauces from one jar of tahini', 'I tried the viral feta bake', 'Breakfast burritos for the whole week'],
  travel: ['Two days in Porto without a car', 'The "secret" viewpoint above the old town', 'What I packed for 3 weeks, carry-on only',
    'Overnight ferry to the islands', 'Cheapest way from the airport into the city', 'Rainy day in Edinburgh, still worth it'],
  music: ['Looping this chord progression all night', 'Drum beat made from desk sounds', 'Cover of "Heroes" on a cheap keyboard',
    'Day 100 of learning guitar, be honest', 'Finding the bass line by ear', 'Sampling a voice memo, start to finish'],
  coding: ['Stop nesting ternaries, please', 'Refactoring a 1,500-line component live', 'Why "works on my machine" happens',
    'A tiny CLI in under a minute', 'Reading a stack trace, slowly', 'The one git command I use daily'],
  film: ['Whole scene shot handheld, no rig', 'How Wes Anderson frames a symmetric shot', 'Color grade "before/after", one LUT',
    'Lighting a face with a single lamp', 'Fake a dolly zoom with a phone', 'Storyboarding a 30-second ad'],
  fitness: ['10-minute mobility routine, no equipment', 'My "rest day" is not really rest', 'Pull-up progression for beginners',
    'Running 5k every day for a month', 'Stretches for people who sit all day', 'What I eat before a long run'],
};
const FOLLOW_UPS = [', part 2', ', full version', ' (details in bio)', ', honest review', ' - worth it?', ', round two',
  ', "no regrets"', ' (you asked, so here it is)', ', step by step', ' in real time'];
const ASIDES = [' Save this for later, you will need it.', ' Tell me what you would change, seriously.',
  ' Full breakdown in the comments below.', ' Took me way too many tries to get this right.', ' Not sponsored, I just like it.',
  ' Reply with your "hot take" and I will try it next.'];
const HASHTAGS: Record<Topic, readonly string[]> = {
  cooking: ['#recipe', '#foodtok', '#easyrecipe', '#mealprep', '#homecooking'],
  travel: ['#travel', '#traveltok', '#budgettravel', '#wanderlust', '#citybreak'],
  music: ['#music', '#musician', '#cover', '#lofi', '#producer'],
  coding: ['#coding', '#programming', '#webdev', '#typescript', '#devtok'],
  film: ['#filmmaking', '#cinematography', '#film', '#shortfilm', '#editing'],
  fitness: ['#fitness', '#workout', '#running', '#mobility', '#gymtok'],
};
const GENERIC_TAGS = ['#fyp', '#foryou', '#viral', '#learnontiktok', '#tutorial', '#dayinmylife'];
const NON_ASCII_BITS = [' 🔥', ' ✨', ' 🎬', ' — très bien', ' (für Anfänger)', ' ¿por qué no?', ' 日本語字幕あり', ' naïve café', ' 🤯🤯'];

const SIGNATURES = ['Weekly videos, no fluff', 'DMs open for collabs', 'New posts on Tuesdays.\nBusiness: see link',
  'Opinions are "mine", obviously', '', 'Learning in public', 'Trying things so you do not have to', ''];
// Every spelling the importer must understand, cycled so each appears in even a small authors file.
const PRIVATE_VALUES = ['true', 'false', '1', '0', 'yes', 'no', 'Y', ''];

const SECONDS_2024 = Date.UTC(2024, 0, 1) / 1000;
const SECONDS_2025 = Date.UTC(2025, 0, 1) / 1000;
const SECONDS_2026 = Date.UTC(2026, 0, 1) / 1000;

// ---------------------------------------------------------------------------------------------------------
// Output

function csvField(value: string | number): string {
  const s = String(value);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Collects rows into chunks and waits for 'drain' when the stream's buffer is full. */
class CsvSink {
  private pending = '';
  rows = 0;

  private readonly stream: WriteStream;
  // Kept, not thrown from the listener: an 'error' nobody listens to would kill the process instead of
  // rejecting ensureDataset.
  private failure: Error | null = null;

  constructor(path: string, header: readonly string[]) {
    this.stream = createWriteStream(path, { encoding: 'utf8' });
    this.stream.on('error', (error) => (this.failure ??= error));
    this.pending = header.map(csvField).join(',') + '\n';
  }

  async write(fields: readonly (string | number)[]): Promise<void> {
    this.pending += fields.map(csvField).join(',') + '\n';
    this.rows++;
    // Chunks of this size keep write() calls (and their per-call cost) few without holding much in memory.
    if (this.pending.length >= 64 * 1024) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.failure) throw this.failure;
    const chunk = this.pending;
    this.pending = '';
    if (!this.stream.write(chunk)) await once(this.stream, 'drain');
  }

  async close(): Promise<void> {
    if (this.pending) await this.flush();
    this.stream.end();
    await finished(this.stream);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Rows

interface Author {
  id: string;
  handle: string;
  name: string;
  topic: Topic;
  used: number;
}

interface Resolved {
  videos: number;
  authors: number;
  bookmarkRatio: number;
  seed: number;
}

function resolveOptions(options: DatasetOptions): Resolved {
  const videos = options.videos;
  if (!Number.isInteger(videos) || videos < 1) throw new Error(`videos must be a positive integer, got ${videos}`);
  const authors = options.authors ?? Math.max(1, Math.round(videos / 33));
  if (!Number.isInteger(authors) || authors < 1) throw new Error(`authors must be a positive integer, got ${authors}`);
  const bookmarkRatio = options.bookmarkRatio ?? 0.3;
  if (!(bookmarkRatio >= 0 && bookmarkRatio <= 1)) throw new Error(`bookmarkRatio must be within [0, 1], got ${bookmarkRatio}`);
  const seed = options.seed ?? 42;
  if (!Number.isInteger(seed)) throw new Error(`seed must be an integer, got ${seed}`);
  return { videos, authors, bookmarkRatio, seed };
}

function makeAuthors(dice: Dice, count: number): Author[] {
  const ids = new Set<string>();
  const handles = new Set<string>();
  const authors: Author[] = [];
  for (let i = 0; i < count; i++) {
    let id = dice.pick(['68', '69', '70']) + dice.digits(17);
    while (ids.has(id)) id = dice.pick(['68', '69', '70']) + dice.digits(17);
    ids.add(id);
    const topic = TOPICS[i % TOPICS.length]!;
    const accented = dice.chance(SHARE.nonAscii * 2);
    const name = accented ? dice.pick(ACCENTED_NAMES) : `${dice.pick(FIRST_NAMES)} ${dice.pick(LAST_NAMES)}`;
    // Handles stay ASCII (platform rule); numbers are appended only on collision, as real users do.
    const base = `${name.split(' ')[0]!.normalize('NFD').replace(/[^a-zA-Z]/g, '').toLowerCase()}${dice.pick(['.', '_', ''])}${dice.pick(HANDLE_WORDS[topic])}`;
    let handle = base;
    while (handles.has(handle)) handle = base + dice.int(1, 9999);
    handles.add(handle);
    authors.push({ id, handle, name, topic, used: 0 });
  }
  return authors;
}

// Video ids come from a bijection of the row index (an affine map modulo 10^17 with a multiplier coprime to
// 10), so they look scattered yet never collide, and no set of a million ids has to be kept.
const ID_SPACE = 10n ** 17n;
const ID_MULTIPLIER = 61_803_398_874_989_483n; // ~ golden ratio of the space: consecutive ids land far apart

function videoIdFor(index: number, offset: bigint): string {
  return '73' + ((BigInt(index) * ID_MULTIPLIER + offset) % ID_SPACE).toString().padStart(17, '0');
}

function caption(dice: Dice, topic: Topic): string {
  let text = dice.pick(OPENERS[topic]);
  if (dice.chance(0.5)) text += dice.pick(FOLLOW_UPS);
  if (dice.chance(0.3)) text += dice.pick(ASIDES);
  if (dice.chance(SHARE.nonAscii)) text += dice.pick(NON_ASCII_BITS);
  const tags = dice.some(HASHTAGS[topic], dice.int(1, 4));
  if (dice.chance(0.4)) tags.push(dice.pick(GENERIC_TAGS));
  const separator = dice.chance(SHARE.multiLine) ? dice.pick(['\n', '\n\n', '\r\n']) : ' ';
  text += separator + tags.join(' ');
  while (text.length < 40) text += ' ' + dice.pick(GENERIC_TAGS);
  if (text.length > 150) text = text.slice(0, text.lastIndexOf(' ', 150));
  return text;
}

/** Authors are picked with a heavy tail: a few accounts own many videos, most own a handful. */
function pickAuthor(dice: Dice, authors: Author[], row: number): Author {
  if (row < authors.length) return authors[row]!; // every author appears at least once when rows allow
  return authors[Math.floor(authors.length * dice.next() ** 2.5)]!;
}

type ConsolidatedRow = (string | number)[];

function videoRow(dice: Dice, id: string, author: Author | null): ConsolidatedRow {
  const topic = author?.topic ?? dice.pick(TOPICS);
  const archived = dice.chance(SHARE.archivePaths);
  return [
    id,
    author?.id ?? '',
    author?.handle ?? '',
    author?.name ?? '',
    caption(dice, topic),
    dice.chance(SHARE.noPlatform) ? '' : 'TikTok',
    dice.chance(SHARE.noHash) ? '' : dice.hex16(),
    archived ? `Archive/videos/${id}.mp4` : '',
    archived ? `Archive/covers/${id}.jpg` : '',
    dice.int(SECONDS_2024, SECONDS_2026 - 1),
    Math.floor(10 ** (dice.next() * 6.5)),
  ];
}

/** A later export of the same video: usually re-scraped (new likes, new hash), sometimes an exact repeat. */
function duplicateOf(dice: Dice, row: ConsolidatedRow): ConsolidatedRow {
  if (dice.chance(SHARE.exactDuplicate)) return row;
  const again = [...row];
  again[6] = dice.chance(SHARE.noHash) ? '' : dice.hex16();
  again[10] = Number(row[10]) + dice.int(1, 5000);
  const edited = `${row[4]} (edited)`;
  if (edited.length <= 150 && dice.chance(0.2)) again[4] = edited;
  return again;
}

/** Positions (row indexes of the unique videos) after which a row without a video id is written. */
function idlessPositions(dice: Dice, videos: number): Set<number> {
  const count = 3 + Math.floor(videos / 200_000);
  const positions = new Set<number>();
  for (let k = 0; k < count; k++) positions.add(Math.floor(((k + dice.next()) * videos) / count));
  return positions;
}

function isoSeconds(seconds: number): string {
  return new Date(Math.floor(seconds) * 1000).toISOString().replace('.000Z', 'Z');
}

async function writeConsolidatedAndBookmarks(
  dice: Dice,
  options: Resolved,
  authors: Author[],
  paths: { consolidated: string; bookmarks: string },
): Promise<void> {
  const consolidated = new CsvSink(paths.consolidated, CONSOLIDATED_HEADER);
  const bookmarks = new CsvSink(paths.bookmarks, BOOKMARKS_HEADER);
  const offset = BigInt(Math.floor(dice.next() * 2 ** 52)) % ID_SPACE;
  const idless = idlessPositions(dice, options.videos);
  const recent: ConsolidatedRow[] = [];
  // Bookmark times only move forward, so the file comes out sorted by time without buffering it.
  const expectedBookmarks = Math.max(1, options.videos * options.bookmarkRatio);
  const meanGap = (SECONDS_2026 - SECONDS_2025) / expectedBookmarks;
  let bookmarkTime = SECONDS_2025;
  let orphans = 0;

  for (let i = 0; i < options.videos; i++) {
    const id = videoIdFor(i, offset);
    const author = i >= authors.length && dice.chance(SHARE.withoutAuthor) ? null : pickAuthor(dice, authors, i);
    if (author) author.used++;
    const row = videoRow(dice, id, author);
    await consolidated.write(row);
    recent[i % RECENT_ROWS] = row;

    if (i > 0 && dice.chance(SHARE.duplicate)) {
      await consolidated.write(duplicateOf(dice, recent[dice.int(0, Math.min(i, RECENT_ROWS - 1))]!));
    }
    if (idless.has(i)) await consolidated.write(videoRow(dice, '', author));
    if (dice.chance(options.bookmarkRatio)) {
      bookmarkTime = Math.min(SECONDS_2026 - 1, bookmarkTime + dice.next() * 2 * meanGap);
      await bookmarks.write([id, isoSeconds(bookmarkTime)]);
      if (dice.chance(SHARE.orphanBookmark)) {
        await bookmarks.write([videoIdFor(options.videos + orphans++, offset), isoSeconds(bookmarkTime)]);
      }
    }
  }
  await Promise.all([consolidated.close(), bookmarks.close()]);
}

async function writeAuthors(dice: Dice, authors: Author[], path: string): Promise<void> {
  const sink = new CsvSink(path, AUTHORS_HEADER);
  const listed = authors.filter((a) => a.used > 0 && !dice.chance(SHARE.authorMissingFromFile));
  const row = (a: Author, n: number) => [
    a.id, a.handle, a.name,
    // Malformed numbers the importer must tolerate: "1200.0" -> 1200, "n/a" -> NULL.
    n === 0 ? '1200.0' : dice.int(500, 2_000_000),
    n === 1 ? 'n/a' : dice.int(1_000, 50_000_000),
    a.used + dice.int(0, 400),
    dice.pick(SIGNATURES),
    PRIVATE_VALUES[n % PRIVATE_VALUES.length]!,
  ];
  for (let n = 0; n < listed.length; n++) await sink.write(row(listed[n]!, n));
  // A re-scraped author further down the file: the importer must keep this later row.
  for (const author of listed) {
    if (dice.chance(SHARE.authorListedTwice)) await sink.write(row(author, listed.length + sink.rows));
  }
  await sink.close();
}

async function generate(options: Resolved, paths: Record<FileKey, string>): Promise<void> {
  const dice = new Dice(seededRandom(options.seed));
  const authors = makeAuthors(dice, options.authors);
  await writeConsolidatedAndBookmarks(dice, options, authors, paths);
  await writeAuthors(dice, authors, paths.authors);
}

// ---------------------------------------------------------------------------------------------------------
// Reuse

interface Marker {
  format: number;
  options: Resolved;
  sizes: Record<FileKey, number>;
}

async function sizeOf(path: string): Promise<number | null> {
  try {
    return (await stat(path)).size;
  } catch {
    return null;
  }
}

async function reusable(dir: string, options: Resolved): Promise<Marker | null> {
  let marker: Marker;
  try {
    marker = JSON.parse(await readFile(join(dir, MARKER), 'utf8')) as Marker;
  } catch {
    return null;
  }
  if (marker.format !== FORMAT_VERSION || JSON.stringify(marker.options) !== JSON.stringify(options)) return null;
  // Sizes catch a file truncated or replaced since the marker was written.
  for (const key of FILE_KEYS) {
    if ((await sizeOf(join(dir, FILE_NAMES[key]))) !== marker.sizes?.[key]) return null;
  }
  return marker;
}

function result(dir: string, marker: Marker): DatasetFiles {
  const sizes = marker.sizes;
  return {
    consolidated: join(dir, FILE_NAMES.consolidated),
    authors: join(dir, FILE_NAMES.authors),
    bookmarks: join(dir, FILE_NAMES.bookmarks),
    bytes: sizes.consolidated + sizes.authors + sizes.bookmarks,
  };
}

/**
 * Writes consolidated.csv, authors.csv and bookmarks.csv into `dir` for the given options, or returns the
 * existing ones when the marker says they were generated with the same options. `videos` counts distinct
 * video ids; the consolidated file also holds ~1% repeated ids and a few rows without an id.
 */
export async function ensureDataset(dir: string, options: DatasetOptions): Promise<DatasetFiles> {
  const resolved = resolveOptions(options);
  const root = resolve(dir);
  await mkdir(root, { recursive: true });
  const existing = await reusable(root, resolved);
  if (existing) return result(root, existing);

  // The marker goes first (removed) and last (written), and files are renamed into place, so an interrupted
  // run can never leave a marker vouching for partial files.
  await rm(join(root, MARKER), { force: true });
  const partial = (key: FileKey) => join(root, `${FILE_NAMES[key]}.partial`);
  await generate(resolved, { consolidated: partial('consolidated'), authors: partial('authors'), bookmarks: partial('bookmarks') });
  const sizes = { consolidated: 0, authors: 0, bookmarks: 0 };
  for (const key of FILE_KEYS) {
    await rename(partial(key), join(root, FILE_NAMES[key]));
    sizes[key] = (await sizeOf(join(root, FILE_NAMES[key])))!;
  }
  const marker: Marker = { format: FORMAT_VERSION, options: resolved, sizes };
  await writeFile(join(root, MARKER), JSON.stringify(marker, null, 2) + '\n');
  return result(root, marker);
}

// ---------------------------------------------------------------------------------------------------------
// CLI

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      videos: { type: 'string' },
      authors: { type: 'string' },
      'bookmark-ratio': { type: 'string' },
      seed: { type: 'string' },
    },
  });
  if (!values.out || !values.videos) {
    throw new Error('usage: dataset.ts --videos N --out DIR [--authors N] [--bookmark-ratio R] [--seed N]');
  }
  const number = (name: string, raw: string | undefined) => {
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (!Number.isFinite(n)) throw new Error(`--${name} must be a number, got "${raw}"`);
    return n;
  };
  const started = performance.now();
  const files = await ensureDataset(values.out, {
    videos: number('videos', values.videos)!,
    authors: number('authors', values.authors),
    bookmarkRatio: number('bookmark-ratio', values['bookmark-ratio']),
    seed: number('seed', values.seed),
  });
  const seconds = (performance.now() - started) / 1000;
  for (const path of [files.consolidated, files.authors, files.bookmarks]) {
    console.log(`${path}: ${(((await sizeOf(path)) ?? 0) / 1e6).toFixed(1)} MB`);
  }
  console.log(`total ${(files.bytes / 1e6).toFixed(1)} MB in ${seconds.toFixed(2)} s`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  });
}
