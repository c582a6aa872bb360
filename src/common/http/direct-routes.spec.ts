import type { IncomingMessage, ServerResponse } from 'node:http';
import 'reflect-metadata';
import { type CanActivate, Controller, Get, Injectable, Put, Req, Res, UseGuards, UseInterceptors, type NestInterceptor } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { DirectRoute, DirectRoutes } from './direct-routes.js';
import { DirectRoutesModule } from './direct-routes.module.js';

@Injectable()
class Deny implements CanActivate {
  canActivate(): boolean {
    return false;
  }
}

const answered: string[] = [];

@Controller('things')
class ThingsController {
  @Get('*key')
  @DirectRoute()
  get(@Req() req: IncomingMessage, @Res() _res: ServerResponse): void {
    answered.push(`get ${req.url}`);
  }

  @Put('fixed')
  @DirectRoute()
  @UseGuards(Deny)
  put(@Req() _req: IncomingMessage, @Res() _res: ServerResponse): void {
    answered.push('put');
  }

  @Get()
  list(): string[] {
    return [];
  }
}

@Controller('bad')
class PassthroughController {
  @Get('x')
  @DirectRoute()
  get(@Req() _req: IncomingMessage, @Res({ passthrough: true }) _res: ServerResponse): void {}
}

class Noop implements NestInterceptor {
  intercept(_ctx: never, next: { handle(): never }): never {
    return next.handle();
  }
}

@Controller('bad')
class InterceptedController {
  @Get('y')
  @DirectRoute()
  @UseInterceptors(Noop)
  get(@Req() _req: IncomingMessage, @Res() _res: ServerResponse): void {}
}

@Controller('bad')
class ParamController {
  @Get(':id')
  @DirectRoute()
  get(@Req() _req: IncomingMessage, @Res() _res: ServerResponse): void {}
}

async function boot(controller: new (...args: never[]) => unknown): Promise<DirectRoutes> {
  const moduleRef = await Test.createTestingModule({ imports: [DirectRoutesModule], controllers: [controller] }).setLogger({ log() {}, error() {}, warn() {} }).compile();
  const app = moduleRef.createNestApplication();
  await app.init();
  return app.get(DirectRoutes);
}

const request = (method: string, url: string) => ({ method, url }) as IncomingMessage;
const response = {} as ServerResponse;

describe('DirectRoutes', () => {
  it('takes method and path from the handler\'s own decorators, and leaves undecorated handlers to Express', async () => {
    const direct = await boot(ThingsController);
    expect(direct.list()).toEqual(['GET /things/*key', 'PUT /things/fixed']);
  });

  it('matches a wildcard only with something after it, a fixed path exactly, the query aside', async () => {
    const direct = await boot(ThingsController);
    answered.length = 0;
    await direct.dispatch(request('GET', '/things/a/b?x=1'), response);
    expect(answered).toEqual(['get /things/a/b?x=1']);
    const req = request('GET', '/things/c');
    await direct.dispatch(req, response);
    expect((req as IncomingMessage & { route?: unknown }).route).toEqual({ path: '/things/*key' }); // the observer's route label
    for (const [method, url] of [['GET', '/things/'], ['GET', '/things'], ['HEAD', '/things/a'], ['GET', '/Things/a'], ['PUT', '/things/fixed/'], ['PUT', '/things/fixedx']]) {
      expect(direct.dispatch(request(method, url), response)).toBeUndefined();
    }
  });

  it('runs the handler\'s guards first: one that answers false is a 403, and the handler does not run', async () => {
    const direct = await boot(ThingsController);
    answered.length = 0;
    await expect(direct.dispatch(request('PUT', '/things/fixed'), response)).rejects.toMatchObject({ status: 403 });
    expect(answered).toEqual([]);
  });

  it('refuses at start what it would not apply: a passthrough response, interceptors, route parameters', async () => {
    await expect(boot(PassthroughController)).rejects.toThrow(/PassthroughController.get: the handler must take exactly/);
    await expect(boot(InterceptedController)).rejects.toThrow(/InterceptedController.get: __interceptors__ are not applied/);
    await expect(boot(ParamController)).rejects.toThrow(/ParamController.get: only fixed paths/);
  });
});
