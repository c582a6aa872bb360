import { type DynamicModule, Global, Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import { pino, type Logger as PinoInstance } from 'pino';
import type { LogLevel } from '../../config/app-config.js';

/** The process's one pino logger: application logs (through nestjs-pino) and the access log write to it. */
export const ROOT_LOGGER = Symbol('ROOT_LOGGER');

/**
 * JSON logs on stdout (pino). nestjs-pino turns `new Logger(Foo.name)` calls into pino lines; its per-request
 * middleware (pino-http plus an AsyncLocalStorage context per request) is switched off (`forRoutes: []`): on small
 * files it cost ≈ 11 % of a request's CPU. Requests are logged once each, when they end, by `accessLog`
 * (src/common/http/request-observer.ts), which writes to the same logger.
 */
@Global()
@Module({})
export class LoggingModule {
  static forRoot(level: LogLevel, base: Record<string, string>): DynamicModule {
    const root: PinoInstance = pino({ level, base });
    return {
      module: LoggingModule,
      imports: [LoggerModule.forRoot({ pinoHttp: { logger: root }, forRoutes: [] })],
      providers: [{ provide: ROOT_LOGGER, useValue: root }],
      exports: [LoggerModule, ROOT_LOGGER],
    };
  }
}
