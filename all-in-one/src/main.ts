import { spawnSync } from 'node:child_process';
import { productionBuildState } from '@confab/client/build-state';
import { ConfigError } from '@confab/platform';
import { startConfab } from './app';

// The first `npm start` on a fresh clone builds the web app (about a minute);
// later starts reuse the build until its sources change (a `git pull`), when
// it is built again. CONFAB_CLIENT=dev or off skips it.
const clientMode = process.env.CONFAB_CLIENT || 'prod';
const buildState = clientMode === 'prod' ? productionBuildState() : 'fresh';
if (buildState !== 'fresh') {
  process.stderr.write(
    buildState === 'missing'
      ? 'confab: building the web app once (npm run build -w client)...\n'
      : 'confab: the web app changed since its last build; building it again (npm run build -w client)...\n',
  );
  const build = spawnSync('npm', ['run', 'build', '-w', '@confab/client'], {
    cwd: new URL('../..', import.meta.url),
    stdio: 'inherit',
  });
  if (build.status !== 0) {
    process.stderr.write('confab: the web app failed to build; see the output above\n');
    process.exit(1);
  }
}

/** `npm start`: Confab in one process. SIGTERM and SIGINT stop it cleanly. */
try {
  const confab = await startConfab(process.env);
  let signals = 0;
  const shutdown = (signal: string) => {
    signals++;
    if (signals > 1) process.exit(1);
    process.stderr.write(`${signal}: stopping Confab\n`);
    confab.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
} catch (error) {
  if (error instanceof ConfigError) {
    process.stderr.write(`confab: ${error.message}\n`);
  } else {
    process.stderr.write(
      `confab: failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
  }
  process.exit(1);
}
