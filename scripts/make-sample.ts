// Generates a small, deterministic media-library CSV export for demos and tests.
// Output must be byte-identical for a given seed so the committed samples never churn.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

export interface SampleOptions { seed?: number; videos?: number; authors?: number; bookmarkRatio?: number }
export interface SampleFiles { consolidated: string; authors: string; bookmarks: string }

// mulberry32: a seedable 32-bit PRNG (Math.random cannot be seeded), small enough to inline.
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function csvField(value: string | number): string {
  const s = String(value);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function toCsv(header: string[], rows: (string | number)[][]): string {
  return [header, ...rows].map((r) => r.map(csvField).join(',')).join('\n') + '\n';
}

const FIRST = ['Maya', 'Dev', 'Lena', 'Omar', 'Priya', 'Jonas', 'Chloe', 'Kenji', 'Sofia', 'Marcus', 'Ines', 'Tariq', 'Hannah', 'Luca'];
const LAST = ['Lopez', 'Patel', 'Nguyen', 'Schmidt', 'Okafor', 'Rossi', 'Kim', 'Brennan', 'Haddad', 'Larsen'];
const TOPICS = ['cooking', 'travel', 'music', 'coding', 'film'] as const;
type Topic = (typeof TOPICS)[number];
const HANDLE_SUFFIX: Record<Topic, string[]> = {
  cooking: ['cooks', 'kitchen', 'eats'], travel: ['travels', 'roams', 'abroad'],
  music: ['beats', 'sings', 'keys'], coding: ['codes', 'devlog', 'ships'], film: ['films', 'frames', 'reels'],
};
// Captions deliberately include commas and quotes so consumers must handle CSV quoting.
const CAPTIONS: Record<Topic, string[]> = {
  cooking: ['One-pan lemon garlic pasta, ready in 15 minutes', 'My grandma\'s "secret" tomato sauce', 'Meal prep for the week, under $30', 'Crispy tofu without a deep fryer'],
  travel: ['48 hours in Lisbon, on a budget', 'The "hidden" beach nobody talks about', 'Packing list for two weeks in Japan', 'Night train from Vienna to Venice'],
  music: ['Playing this riff until my neighbours complain', 'Lo-fi beat made from kitchen sounds', 'Cover of "Dreams" on a $50 ukulele', 'Day 30 of learning piano, be honest'],
  coding: ['Stop writing "utils.ts" files, do this instead', 'Refactoring a 2,000-line function live', 'Why my tests pass locally but not in CI', 'Building a CLI in 60 seconds'],
  film: ['Shot this whole scene on a phone, no gimbal', 'How Kubrick uses one-point perspective', 'Color grading "before and after"', 'Three lighting setups under $100'],
};
const HASHTAGS: Record<Topic, string[]> = {
  cooking: ['#recipe', '#foodtok', '#easyrecipe', '#mealprep'], travel: ['#travel', '#traveltok', '#budgettravel', '#wanderlust'],
  music: ['#music', '#musician', '#cover', '#lofi'], coding: ['#coding', '#programming', '#webdev', '#typescript'],
  film: ['#filmmaking', '#cinematography', '#film', '#shortfilm'],
};
// Kept out of the main pools so only a couple of rows carry non-ASCII text (accents and emoji).
const NON_ASCII: Record<Topic, [string, string]> = {
  cooking: ['Crème brûlée in 10 minutes, no torch needed 🔥 #recipe', 'Käsespätzle like my Oma makes it 🧀 #foodtok'],
  travel: ['Zürich old town at sunrise, worth the 5am alarm 🌅 #travel', 'Café hopping in Montréal ☕ #traveltok'],
  music: ['Café session: "Für Elise" on a street piano 🎹 #music', 'Beyoncé medley on a loop pedal 🎤 #cover'],
  coding: ['Naïve vs. memoized Fibonacci, the difference is wild 🤯 #coding', 'Unicode bugs: why "é" has two lengths 🐛 #webdev'],
  film: ['Über-low-budget sci-fi short, shot in one weekend 🎬 #shortfilm', 'Amélie colour palette breakdown 🎨 #film'],
};
const PRIVATE_VALUES = ['true', 'false', '1', '0', 'yes', ''];
const SIGNATURES = ['Weekly videos, no fluff', 'DMs open for collabs', 'Learning in public.\nNew posts Tuesdays', 'Opinions are "mine", obviously', ''];

const YEAR_2024 = Date.UTC(2024, 0, 1) / 1000;
const YEAR_2025 = Date.UTC(2025, 0, 1) / 1000;
const YEAR_2026 = Date.UTC(2026, 0, 1) / 1000;

export function generateSample(options: SampleOptions = {}): SampleFiles {
  const { seed = 42, videos = 120, authors = 12, bookmarkRatio = 0.3 } = options;
  const rng = mulberry32(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));
  const pick = <T>(arr: readonly T[]): T => arr[Math.floor(rng() * arr.length)]!;
  const digits = (n: number) => Array.from({ length: n }, () => int(0, 9)).join('');
  const hex8 = () => (Math.floor(rng() * 2 ** 32) >>> 0).toString(16).padStart(8, '0');
  // Fisher-Yates with our rng; sort(() => rng() - 0.5) would depend on the engine's sort algorithm.
  const shuffle = <T>(arr: T[]): T[] => {
    for (let i = arr.length - 1; i > 0; i--) { const j = int(0, i); [arr[i], arr[j]] = [arr[j]!, arr[i]!]; }
    return arr;
  };
  // Exact quotas (rather than per-row coin flips) guarantee every edge case shows up even in tiny samples.
  const quota = (n: number, ratio: number) => (ratio > 0 && n > 0 ? Math.max(1, Math.round(n * ratio)) : 0);
  const chooseRows = (n: number, ratio: number) =>
    new Set(shuffle(Array.from({ length: n }, (_, i) => i)).slice(0, quota(n, ratio)));

  const handles = new Set<string>();
  const authorRows = Array.from({ length: authors }, (_, i) => {
    const topic = TOPICS[i % TOPICS.length]!;
    const first = pick(FIRST);
    let handle = `${first.toLowerCase()}${pick(['.', '_'])}${pick(HANDLE_SUFFIX[topic])}`;
    while (handles.has(handle)) handle += int(0, 9);
    handles.add(handle);
    return { id: pick(['68', '69', '70']) + digits(17), handle, nickname: `${first} ${pick(LAST)}`, topic, used: 0 };
  });

  const videoIds = new Set<string>();
  while (videoIds.size < videos) videoIds.add('73' + digits(17));
  const ids = [...videoIds];
  // Newline and non-ASCII captions come from disjoint slices of one shuffle so neither hides the other.
  const captionOrder = shuffle(Array.from({ length: videos }, (_, i) => i));
  const nNewline = quota(videos, 0.05);
  const newline = new Set(captionOrder.slice(0, nNewline));
  const nonAscii = new Map(captionOrder.slice(nNewline, nNewline + 2).map((row, k) => [row, k] as const));
  const noPlatform = chooseRows(videos, 0.04);
  const noHash = chooseRows(videos, 0.2);
  const withPaths = chooseRows(videos, 0.1);

  const consolidated = ids.map((id, i) => {
    // First pass covers every author once so authors.csv has no orphans; the rest are random.
    const author = i < authorRows.length ? authorRows[i]! : pick(authorRows);
    author.used++;
    const tags = shuffle([...HASHTAGS[author.topic]]).slice(0, int(1, 3)).join(' ');
    const variant = nonAscii.get(i);
    const caption = variant !== undefined ? NON_ASCII[author.topic][variant]!
      : `${pick(CAPTIONS[author.topic])}${newline.has(i) ? '\n' : ' '}${tags}`;
    return [
      id, author.id, author.handle, author.nickname, caption,
      noPlatform.has(i) ? '' : 'TikTok',
      noHash.has(i) ? '' : hex8() + hex8(),
      withPaths.has(i) ? `Archive/videos/${id}.mp4` : '',
      withPaths.has(i) ? `Archive/covers/${id}.jpg` : '',
      int(YEAR_2024, YEAR_2026 - 1),
      Math.floor(10 ** (rng() * 6)), // likes are heavy-tailed; uniform values would look fake
    ];
  });

  const usedAuthors = authorRows.filter((a) => a.used > 0);
  const authorsCsv = usedAuthors.map((a, i) => [
    a.id, a.handle, a.nickname,
    // Malformed numbers the importer must tolerate: "1200.0" -> 1200, "n/a" -> NULL.
    i === 0 ? '1200.0' : int(500, 2_000_000),
    i === Math.min(1, usedAuthors.length - 1) ? 'n/a' : int(1_000, 50_000_000),
    // Cycle rather than pick so every boolean spelling appears at least once.
    a.used + int(0, 400), pick(SIGNATURES), PRIVATE_VALUES[i % PRIVATE_VALUES.length]!,
  ]);

  const bookmarks = [...chooseRows(videos, bookmarkRatio)]
    .map((i) => [ids[i]!, int(YEAR_2025, YEAR_2026 - 1)] as const)
    .sort((a, b) => a[1] - b[1])
    .map(([id, ts]) => [id, new Date(ts * 1000).toISOString().replace('.000Z', 'Z')]);

  return {
    consolidated: toCsv(['c_videos_id', 'c_videos_authorid', 'c_authors_uniqueids', 'c_authors_nicknames', 'c_texts_text_content',
      'platform', 'csv_row_hash', 'video_path', 'cover_path', 'c_videos_createtime', 'c_videos_diggcount'], consolidated),
    authors: toCsv(['authors_id', 'authors_uniqueids', 'authors_nicknames', 'authors_followercount', 'authors_heartcount',
      'authors_videocount', 'authors_signature', 'authors_privateaccount'], authorsCsv),
    bookmarks: toCsv(['bookmarks_bookmark_id', 'bookmarks_timestamp'], bookmarks),
  };
}

function main(): void {
  const { values } = parseArgs({
    options: {
      out: { type: 'string', default: 'samples/demo' }, videos: { type: 'string', default: '120' },
      authors: { type: 'string', default: '12' }, seed: { type: 'string', default: '42' },
    },
  });
  const num = (name: string, raw: string, min: number): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got "${raw}"`);
    return n;
  };
  const files = generateSample({
    seed: num('seed', values.seed, 0), videos: num('videos', values.videos, 1), authors: num('authors', values.authors, 1),
  });
  mkdirSync(values.out, { recursive: true });
  for (const [name, text] of Object.entries(files)) {
    const path = join(values.out, `${name}.csv`);
    writeFileSync(path, text, 'utf8');
    console.log(`${path}: ${countRecords(text)} rows`);
  }
}

// Counts records rather than lines, since quoted fields may contain newlines.
function countRecords(csv: string): number {
  let inQuotes = false;
  let records = 0;
  for (const ch of csv) {
    if (ch === '"') inQuotes = !inQuotes;
    else if (ch === '\n' && !inQuotes) records++;
  }
  return records - 1; // header
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
