import which from 'which';

/**
 * Programs some tests need that npm cannot install (PgBouncer, a browser, PostgreSQL's client tools). Where one
 * is missing the tests say so loudly and are skipped; CI installs them and sets the `require` variable, so there
 * a missing program fails the run instead.
 */
export interface ExternalTool {
  /** As the banner names it: "PgBouncer", "Chromium". */
  label: string;
  /** Executable names looked up, in order. */
  names: string[];
  /** The variable that points at the binary and, when set, is the only place looked at. */
  override: string;
  /** Looked at after PATH (Debian puts some daemons in sbin folders that are not on a user's PATH). */
  extraFolders?: string[];
  /** How to get it. */
  install: string;
  /** `SX_TEST_REQUIRE_…`: set to 1, a missing tool fails the tests that need it. */
  requireVariable: string;
}

export function findExternalTool(tool: ExternalTool, env: NodeJS.ProcessEnv = process.env): string | null {
  const override = env[tool.override];
  if (override) return which.sync(override, { nothrow: true, path: '' }) ?? null;
  const searchPath = [env.PATH ?? '', ...(tool.extraFolders ?? [])].filter(Boolean).join(':');
  for (const name of tool.names) {
    const found = which.sync(name, { nothrow: true, path: searchPath });
    if (found) return found;
  }
  return null;
}

export function externalToolRequired(tool: ExternalTool, env: NodeJS.ProcessEnv = process.env): boolean {
  return env[tool.requireVariable] === '1';
}

/** The stderr message for a machine without the tool: what did not run, where it was looked for, how to get it. */
export function missingToolBanner(tool: ExternalTool, whatDidNotRun: string, env: NodeJS.ProcessEnv = process.env): string {
  const line = '!'.repeat(78);
  const looked = env[tool.override]
    ? `${tool.override}=${env[tool.override]} is not an executable file.`
    : `No executable ${tool.names.map((name) => `"${name}"`).join(', ')} on PATH${tool.extraFolders?.length ? ` or in ${tool.extraFolders.join(', ')}` : ''}.`;
  return [
    line,
    `!! ${tool.label} NOT FOUND: ${whatDidNotRun} DID NOT RUN.`,
    `!! ${looked}`,
    `!! ${tool.install} or point ${tool.override} at it.`,
    externalToolRequired(tool, env)
      ? `!! ${tool.requireVariable}=1 (as CI sets): they FAIL.`
      : `!! They are reported as skipped; with ${tool.requireVariable}=1 (as CI sets) they fail instead.`,
    line,
    '',
  ].join('\n');
}
