import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type DynamicModule, Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import type { LogLevel } from '../../config/app-config.js';

/** Paths polled by probes and scrapers: logged at debug so they do not drown the request log. */
const QUIET = /^\/(health\/|metrics)/;

/** JSON logs on stdout (pino). Request lines carry method, url, status and time; never bodies or credentials. */
@Module({})
export class LoggingModule {
  static forRoot(level: LogLevel, base: Record<string, string>): DynamicModule {
    return {
      module: LoggingModule,
      imports: [
        LoggerModule.forRoot({
          pinoHttp: {
            level,
            base,
            genReqId: (req: IncomingMessage) => (req.headers['x-request-id'] as string | undefined) ?? randomUUID(),
            redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-cluster-token"]'], censor: '[redacted]' },
            customLogLevel: (req: IncomingMessage, res: ServerResponse, err?: Error) => {
              if (err || res.statusCode >= 500) return 'error';
              if (QUIET.test(req.url ?? '')) return 'debug';
              return res.statusCode >= 400 ? 'info' : 'debug';
            },
            serializers: {
              req: (req: { id: unknown; method: string; url: string; headers: Record<string, unknown>; remoteAddress?: string }) => ({
                id: req.id, method: req.method, url: req.url, remoteAddress: req.remoteAddress,
                contentLength: req.headers['content-length'], userAgent: req.headers['user-agent'],
              }),
              res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
            },
          },
        }),
      ],
      exports: [LoggerModule],
    };
  }
}
