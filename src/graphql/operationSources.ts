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
  readonly item: DataLoader<string, Item | null>;
  readonly meta: DataLoader<string, ItemMeta>;
  readonly note: DataLoader<string, NoteRow | null>;
  readonly raw: DataLoader<Item, ItemRaw, string>;
  /**
   * Renders the original would cache, stored in one write transaction per batch (a page of notes is one
   * statement, not one per item). The operation's own transaction is READ ONLY: a write takes a binding of its own.
   */
  readonly storedRenders: DataLoader<{ videoId: string; markdown: string; force: boolean }, number, string>;
  /** The source's media settings over the gateway's defaults. */
  readonly media: MediaSettings;

  constructor(
    readonly source: SourceRecord,
    private readonly session: TenantBinding,
    store: Store,
    mediaDefaults: StoredMediaSettings,
  ) {
    const db = session.db;
    this.media = effectiveMediaSettings(source.media, mediaDefaults);
    this.storedRenders = new DataLoader(
      async (renders) => {
        const written = await store.withTenant(source.id, async (writer) => {
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
    this.item = new DataLoader(async (ids) => {
      const found = await itemsByIds(db, ids);
      return ids.map((id) => found.get(id) ?? null);
    });
    this.meta = new DataLoader(async (ids) => {
      const found = await metaByVideoIds(db, ids);
      return ids.map((id) => found.get(id) ?? emptyMeta(id));
    });
    this.note = new DataLoader(async (ids) => {
      const found = await notesByVideoIds(db, ids);
      return ids.map((id) => found.get(id) ?? null);
    });
    this.raw = new DataLoader(
      async (items) => {
        const found = await rawByVideoIds(db, items);
        return items.map((item) => found.get(item.id)!);
      },
      { cacheKeyFn: (item) => item.id },
    );
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
