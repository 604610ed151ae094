import DataLoader from 'dataloader';
import type { SourceRecord, Store, TenantDb, TenantBinding } from '../interfaces.js';
import { emptyMeta, metaByVideoIds, type ItemMeta } from '../queries/itemMeta.js';
import { notesByVideoIds, storeRenderedNotes, type NoteRow } from '../queries/itemNotes.js';
import type { MediaSettings } from '../notes/index.js';
import { effectiveMediaSettings, type StoredMediaSettings } from '../sources/mediaSettings.js';
import { rawByVideoIds, type ItemRaw } from '../queries/itemRaw.js';
import type { Item } from '../queries/itemRows.js';
import { itemsByIds } from '../queries/listItems.js';
import { assertProfileMatches, assertSourceId } from '../sources/sourceId.js';

/**
 * One source bound for one operation: its registry record, its database binding and its DataLoaders.
 * Loaders live here, not on the context, so a batch never mixes two sources of the same operation.
 */
export class BoundSource {
  /** The source's media settings over the gateway's defaults. */
  readonly media: MediaSettings;
  // Each loader is made when first used: most operations use one or none of them.
  private itemLoader?: DataLoader<string, Item | null>;
  private metaLoader?: DataLoader<string, ItemMeta>;
  private noteLoader?: DataLoader<string, NoteRow | null>;
  private rawLoader?: DataLoader<Item, ItemRaw, string>;
  private renderLoader?: DataLoader<{ videoId: string; markdown: string; force: boolean }, number, string>;

  constructor(
    readonly source: SourceRecord,
    private readonly session: TenantBinding,
    private readonly store: Store,
    mediaDefaults: StoredMediaSettings,
  ) {
    this.media = effectiveMediaSettings(source.media, mediaDefaults);
  }

  /**
   * Renders the original would cache, stored in one write transaction per batch (a page of notes is one
   * statement, not one per item). The operation's own binding reads only: a write takes a binding of its own.
   */
  get storedRenders(): DataLoader<{ videoId: string; markdown: string; force: boolean }, number, string> {
    this.renderLoader ??= new DataLoader(
      async (renders) => {
        const written = await this.store.withTenant(this.source.id, async (writer) => {
          const forced = renders.filter((render) => render.force);
          const unforced = renders.filter((render) => !render.force);
          return (await storeRenderedNotes(writer, forced, true)) + (await storeRenderedNotes(writer, unforced, false));
        });
        return renders.map(() => written);
      },
      {
        cache: false,
        cacheKeyFn: (render) => `${render.force}:${render.videoId}`,
        // Renders of one page finish their file checks a few ticks apart: a short window lets them share a write.
        batchScheduleFn: (dispatch) => setTimeout(dispatch, 2),
      },
    );
    return this.renderLoader;
  }

  get item(): DataLoader<string, Item | null> {
    this.itemLoader ??= new DataLoader(async (ids) => {
      const found = await itemsByIds(this.db, ids);
      return ids.map((id) => found.get(id) ?? null);
    });
    return this.itemLoader;
  }

  get meta(): DataLoader<string, ItemMeta> {
    this.metaLoader ??= new DataLoader(async (ids) => {
      const found = await metaByVideoIds(this.db, ids);
      return ids.map((id) => found.get(id) ?? emptyMeta(id));
    });
    return this.metaLoader;
  }

  get note(): DataLoader<string, NoteRow | null> {
    this.noteLoader ??= new DataLoader(async (ids) => {
      const found = await notesByVideoIds(this.db, ids);
      return ids.map((id) => found.get(id) ?? null);
    });
    return this.noteLoader;
  }

  get raw(): DataLoader<Item, ItemRaw, string> {
    this.rawLoader ??= new DataLoader(
      async (items) => {
        const found = await rawByVideoIds(this.db, items);
        return items.map((item) => found.get(item.id)!);
      },
      { cacheKeyFn: (item) => item.id },
    );
    return this.rawLoader;
  }

  get db(): TenantDb {
    return this.session.db;
  }

  get sourceId(): string {
    return this.source.id;
  }

  finish(ok: boolean): Promise<void> {
    return this.session.finish(ok);
  }
}

/** The sources an operation touches; the same source named twice (aliases) shares one binding. */
export class OperationSources {
  private readonly scopes = new Map<string, Promise<BoundSource>>();
  /** Every valid source id the operation named, for the X-SX-Source-ID response header. */
  readonly named = new Set<string>();

  constructor(
    private readonly store: Store,
    private readonly profileIndex: string | null,
    private readonly mediaDefaults: StoredMediaSettings,
  ) {}

  /** A valid id that agrees with the request's X-SX-Profile-Index, or the error that says why not. */
  checkSourceId(sourceIdInput: string): string {
    const sourceId = assertSourceId(sourceIdInput);
    assertProfileMatches(sourceId, this.profileIndex);
    this.named.add(sourceId);
    return sourceId;
  }

  get(sourceIdInput: string): Promise<BoundSource> {
    const sourceId = this.checkSourceId(sourceIdInput);
    let scope = this.scopes.get(sourceId);
    if (!scope) {
      scope = (async () => {
        const session = await this.store.openTenant(sourceId, this);
        return new BoundSource(session.source, session, this.store, this.mediaDefaults);
      })();
      this.scopes.set(sourceId, scope);
    }
    return scope;
  }

  /** Ends every binding: commit when the operation succeeded, roll back otherwise. Never throws. */
  async finishAll(ok: boolean): Promise<void> {
    // Called again by the response hook as a backstop: usually nothing is left by then.
    if (this.scopes.size === 0) return;
    const scopes = [...this.scopes.values()];
    this.scopes.clear();
    await Promise.all(
      scopes.map(async (pending) => {
        const scope = await pending.catch(() => null);
        await scope?.finish(ok).catch(() => undefined);
      }),
    );
  }
}
