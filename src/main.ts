import 'reflect-metadata';
import { ConfigError, loadConfigFromProcess, type AppConfig } from './config/app-config.js';
import { createApp } from './app.js';

async function main(): Promise<void> {
  let config: AppConfig;
  try {
    config = loadConfigFromProcess();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`shoal: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const { app } = await createApp(config);
  await app.listen(config.port, config.host);
}

main().catch((err: unknown) => {
  process.stderr.write(`shoal: failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
