import { readFileSync } from 'node:fs';
import { ValidationPipe, type DynamicModule, type InjectionToken, type NestApplicationOptions, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import express from 'express';
import { Logger } from 'nestjs-pino';
import type { Logger as PinoInstance } from 'pino';
import type { OpenAPIObject } from '@nestjs/swagger';
import type { AppConfig } from './config/app-config.js';
import { ProblemDetailsFilter } from './common/problem-details.filter.js';
import { bearerToken, tokenEquals } from './common/auth/bearer.js';
import { buildOpenApi, serveOpenApi } from './common/http/openapi.js';
import { ShoalExpressAdapter } from './common/http/shoal-express-adapter.js';
import { ShoalError } from './common/errors.js';
import { DirectContext, DirectRoutes } from './common/http/direct-routes.js';
import { requestObserver } from './common/http/request-observer.js';
import { ROOT_LOGGER } from './common/logging/logging.module.js';
import { ClientLoadService } from './common/metrics/client-load.service.js';
import { MetricsService } from './common/metrics/metrics.service.js';
import { AppModule } from './app.module.js';

export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Routes whose body is file bytes: no body parser may touch them (they are streamed). */
const RAW_BODY = /^\/(v1\/files|internal\/(entries|blobs))(\/|$|\?)/;

export interface CreatedApp {
  app: NestExpressApplication;
  openapi: OpenAPIObject;
}

/** A provider replaced wherever it is declared in the module graph (a test seam: a fake registry, fixed timers). */
export type ProviderOverride =
  | { provide: InjectionToken; useValue: unknown }
  | { provide: InjectionToken; useClass: Type }
  | { provide: InjectionToken; useFactory: (...args: never[]) => unknown; inject?: InjectionToken[] };

export interface CreateAppOptions {
  /** false: no logs at all (tests); by default pino JSON. */
  logger?: boolean;
  /** Providers to replace (specs and in-process tests only; main.ts passes none). */
  overrides?: ProviderOverride[];
}

/**
 * Builds the app for a role — the single way to start it, used by main.ts, the OpenAPI writer and the tests.
 * Nothing listens until the caller calls `listen`.
 */
export async function createApp(config: AppConfig, opts: CreateAppOptions = {}): Promise<CreatedApp> {
  const app = await build(AppModule.forRoot(config), opts.overrides ?? [], {
    bodyParser: false,
    bufferLogs: opts.logger !== false,
    ...(opts.logger === false ? { logger: false as const } : {}),
    abortOnError: false,
  });
  if (opts.logger !== false) app.useLogger(app.get(Logger));
  app.disable('x-powered-by');
  // Express would add a weak ETag to every JSON and problem answer; on /v1 an ETag means the file's SHA-256, nothing else.
  app.set('etag', false);
  app.set('query parser', 'simple');
  // Before any routing, so that every request — direct, routed, refused or unmatched — is measured and logged once.
  // Direct routes (common/http/direct-routes.ts) are answered here; everything else goes on to Express.
  const observe = requestObserver(app.get<PinoInstance>(ROOT_LOGGER), app.get(MetricsService), app.get(ClientLoadService));
  const direct = app.get(DirectRoutes);
  const filter = new ProblemDetailsFilter();
  (app.getHttpAdapter() as ShoalExpressAdapter).setFrontDoor((req, res, express) => {
    observe(req, res);
    const answered = direct.dispatch(req, res);
    if (answered) answered.catch((err: unknown) => filter.catch(err, new DirectContext(req, res)));
    else express(req, res);
  });
  const json = express.json({ limit: '4mb', type: ['application/json', 'application/*+json'] });
  // Internal routes parse nothing for a caller without the cluster token: the guard answers 401 before any work.
  const unauthenticatedInternal = (req: express.Request) => req.url.startsWith('/internal/') && !tokenEquals(bearerToken(req) ?? '', config.clusterToken);
  app.use((req: express.Request, res: express.Response, next: express.NextFunction) => (RAW_BODY.test(req.url) || unauthenticatedInternal(req) ? next() : json(req, res, next)));
  app.useGlobalFilters(filter);
  app.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true, exceptionFactory: (errors) => new ShoalError('VALIDATION_FAILED', 'the request did not pass validation', { errors: errors.flatMap((e) => Object.values(e.constraints ?? {}).map((m) => m)) }) }));
  app.enableShutdownHooks();
  const openapi = buildOpenApi(app, config.role, VERSION);
  serveOpenApi(app, openapi);
  return { app, openapi };
}

/**
 * NestFactory has no way to replace a provider, so with overrides the graph is compiled by @nestjs/testing (a dev
 * dependency, loaded only then) and the same adapter and options make the application; without, as in production,
 * NestFactory builds it.
 */
async function build(root: DynamicModule, overrides: ProviderOverride[], options: NestApplicationOptions): Promise<NestExpressApplication> {
  if (overrides.length === 0) return NestFactory.create<NestExpressApplication>(root, new ShoalExpressAdapter(), options);
  const { Test } = await import('@nestjs/testing');
  const builder = Test.createTestingModule({ imports: [root] });
  for (const o of overrides) {
    const by = builder.overrideProvider(o.provide);
    if ('useValue' in o) by.useValue(o.useValue);
    else if ('useClass' in o) by.useClass(o.useClass);
    else by.useFactory({ factory: o.useFactory as (...args: unknown[]) => unknown, inject: o.inject ?? [] });
  }
  if (options.logger === false) builder.setLogger({ log() {}, error() {}, warn() {} });
  const moduleRef = await builder.compile();
  return moduleRef.createNestApplication<NestExpressApplication>(new ShoalExpressAdapter(), options);
}
