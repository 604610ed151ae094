import { frontmatterYaml } from './frontmatterYaml.js';
import { itemMediaPaths, type ItemMediaPaths } from './mediaPaths.js';
import { styleVaultRoot, type MediaSettings } from './mediaSettings.js';
import {
  collapseSpace,
  flagOrNull,
  nonBlankText,
  statusList,
  textList,
  workflowEntries,
  type NoteItem,
} from './noteItem.js';
import { renderHash } from './renderHash.js';

/**
 * The original's note template. Cached notes carry this version; the note route re-renders any cached
 * note of another (non-user) version, so bump it whenever a rendered byte changes.
 */
export const NOTE_TEMPLATE_VERSION = 'v1.3';

/** Relative paths (before any group prefix) whose files exist under `<vaultRoot>/<dataDir>`. */
export type MediaPresent = ReadonlySet<string> | ((relativePath: string) => boolean);

export interface RenderedNote {
  markdown: string;
  renderHash: string;
  /** The video file is missing, or the cover file is. The note route caches only notes with media. */
  mediaMissing: boolean;
  /** Sorted, as written (group-prefixed). */
  filesSeen: string[];
  templateVersion: typeof NOTE_TEMPLATE_VERSION;
  paths: ItemMediaPaths;
  /** The frontmatter object, keys in template order (what the plugin merges into an existing note). */
  frontmatter: Record<string, unknown>;
}

/** Renders an item's note exactly as the original's template v1.3 does. Pure: file checks come in `present`. */
export function renderNote(item: NoteItem, settings: MediaSettings, present: MediaPresent): RenderedNote {
  const exists = typeof present === 'function' ? present : (relative: string) => present.has(relative);
  const paths = itemMediaPaths(item, settings);
  const videoPresent = exists(paths.video.relative);
  const coverPresent = exists(paths.cover.relative);
  const filesSeen = [videoPresent ? paths.video.written : null, coverPresent ? paths.cover.written : null]
    .filter((written): written is string => written !== null)
    .sort(byCodePoint);
  const mediaMissing = !videoPresent || !coverPresent;
  const hash = renderHash({
    template_version: NOTE_TEMPLATE_VERSION,
    csv_row_hash: item.csv_row_hash,
    video_path: paths.video.written,
    cover_path: paths.cover.written,
    files_seen: filesSeen,
    path_style: settings.pathStyle.toLowerCase(),
    vault_root: styleVaultRoot(settings) ?? '',
    data_dir: settings.dataDir,
  });
  const frontmatter = noteFrontmatter(item, paths, { filesSeen, mediaMissing, renderHash: hash });
  const markdown = `---\n${frontmatterYaml(frontmatter)}---\n\n${managedBlock(item, paths)}\n`;
  return { markdown, renderHash: hash, mediaMissing, filesSeen, templateVersion: NOTE_TEMPLATE_VERSION, paths, frontmatter };
}

interface RenderFacts {
  filesSeen: string[];
  mediaMissing: boolean;
  renderHash: string;
}

function noteFrontmatter(item: NoteItem, paths: ItemMediaPaths, facts: RenderFacts): Record<string, unknown> {
  const handle = nonBlankText(item.author_unique_id);
  const authorUrl = handle === null ? null : `https://www.tiktok.com/@${handle}`;
  const statuses = statusList(item);
  const videoLink = `[[${embedTarget(paths.video.written, `${item.id}.mp4`)}]]`;
  const coverLink = `[[${embedTarget(paths.cover.written, `${item.id}.jpg`)}]]`;
  // Key order is part of the template: the plugin and users' diffs see it.
  return {
    fields: 'sx_media',
    id: item.id,
    video: videoLink,
    video_embed: videoLink,
    video_path: paths.video.written,
    video_abs: paths.video.absolute,
    sxopen_video: paths.video.sxopen,
    sxreveal_video: paths.video.sxreveal,
    cover: coverLink,
    cover_embed: coverLink,
    cover_path: paths.cover.written,
    cover_abs: paths.cover.absolute,
    sxopen_cover: paths.cover.sxopen,
    sxreveal_cover: paths.cover.sxreveal,
    video_url: authorUrl === null ? null : `${authorUrl}/video/${item.id}`,
    author_url: authorUrl,
    platform: item.platform || 'TikTok',
    author_name: item.author_name,
    author_unique_id: handle,
    author_id: item.author_id,
    caption: item.caption ?? '',
    followers: item.followers,
    hearts: item.hearts,
    videos_count: item.videos_count,
    signature: item.signature,
    is_private: flagOrNull(item.is_private),
    // One status is written as a string, several as a list; with one it is the last (only) entry,
    // not the ranked primary status of the meta route.
    status: statuses.length > 1 ? statuses : statuses[statuses.length - 1],
    rating: item.rating,
    notes: item.notes,
    bookmarked: flagOrNull(item.bookmarked) ?? false,
    bookmark_timestamp: item.bookmark_timestamp,
    scheduled_time: null,
    product_link: item.product_link,
    author_links: textList(item.author_links),
    tags: textList(item.tags),
    sx_select: false,
    platform_targets: textList(item.platform_targets),
    workflow_log: workflowEntries(item.workflow_log),
    post_url: item.post_url,
    published_time: item.published_time,
    csv_row_hash: item.csv_row_hash,
    template_version: NOTE_TEMPLATE_VERSION,
    media_missing: facts.mediaMissing,
    metadata_missing: [item.platform, item.author_name, item.author_unique_id, item.caption].some(
      (value) => nonBlankText(value) === null,
    ),
    files_seen: facts.filesSeen,
    render_hash: facts.renderHash,
  };
}

/** What `[[…]]` points at: the written path, else `<id>.<ext>` (unreachable while canonical paths exist). */
function embedTarget(written: string, fallback: string): string {
  return written || fallback;
}

/** The `sx-managed` block: the part of the note the plugin replaces on every fetch. */
function managedBlock(item: NoteItem, paths: ItemMediaPaths): string {
  const handle = nonBlankText(item.author_unique_id);
  const caption = collapseSpace(item.caption ?? '');
  const authorUrl = handle === null ? '' : `https://www.tiktok.com/@${handle}`;
  const shownAuthor = handle ?? item.author_name ?? '';
  return [
    '<!-- sx-managed:start -->',
    '>[!blank-container|min-0]',
    '>>[!Desc]+ MEDIA',
    '>>>[!blank-container|min-0]',
    '>>>>[!multi-column]',
    '>>>>>[!Desc]+ Cover',
    `>>>>>> ![[${embedTarget(paths.cover.written, `${item.id}.jpg`)}]]`,
    '>>>>',
    '>>>>>[!Desc]+ Video',
    `>>>>>> ![[${embedTarget(paths.video.written, `${item.id}.mp4`)}]]`,
    '>>>>',
    '>>',
    '>>>[!blank-container|min-0]',
    '>>>>[!Desc]+ Caption',
    '>>>>> ```md',
    ...(caption === '' ? [] : [`>>>>> ${caption}`]),
    ...(handle === null ? [] : [`>>>>> vc:: ${handle}`]),
    '>>>>> ```',
    '>>',
    '>>>[!blank-container|min-0]',
    '>>>>[!multi-column]',
    '>>>>>[!Desc]+ author_url',
    '>>>>>> ```md',
    `>>>>>> ${authorUrl}`,
    '>>>>>> ```',
    '>>>>',
    '>>>>>[!Desc]+ author_name',
    '>>>>>> ```md',
    `>>>>>> ${shownAuthor}`,
    '>>>>>> ```',
    '>>',
    '>>>[!blank-container|min-0]',
    '>>>>[!Desc]+ Local Files',
    `>>>>> [▶ Open Video](${paths.video.sxopen}) | [📂 Reveal](${paths.video.sxreveal})`,
    `>>>>> [🖼 Open Cover](${paths.cover.sxopen}) | [📂 Reveal](${paths.cover.sxreveal})`,
    '',
    '<!-- sx-managed:end -->',
  ].join('\n');
}

/** Python's `sorted()` order for strings: by code point, where `Array.prototype.sort` compares UTF-16 units. */
function byCodePoint(a: string, b: string): number {
  const left = Array.from(a);
  const right = Array.from(b);
  for (let index = 0; index < Math.min(left.length, right.length); index += 1) {
    const difference = (left[index].codePointAt(0) ?? 0) - (right[index].codePointAt(0) ?? 0);
    if (difference !== 0) return difference;
  }
  return left.length - right.length;
}
