import type { IncomingMessage, ServerResponse } from 'node:http';
import { type CanActivate, type ExecutionContext, ForbiddenException, Injectable, Logger, type OnApplicationBootstrap, RequestMethod, SetMetadata, type Type } from '@nestjs/common';
import { GUARDS_METADATA, INTERCEPTORS_METADATA, METHOD_METADATA, PATH_METADATA, PIPES_METADATA, RESPONSE_PASSTHROUGH_METADATA, ROUTE_ARGS_METADATA, EXCEPTION_FILTERS_METADATA } from '@nestjs/common/constants.js';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum.js';
import { DiscoveryService, MetadataScanner, ModuleRef } from '@nestjs/core';
import { isObservable, lastValueFrom } from 'rxjs';

const DIRECT_ROUTE = 'shoal:direct-route';
type HttpArgumentsHost = ReturnType<ExecutionContext['switchToHttp']>;
type RpcArgumentsHost = ReturnType<ExecutionContext['switchToRpc']>;
type WsArgumentsHost = ReturnType<ExecutionContext['switchToWs']>;
const METHODS = new Set(['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'PATCH']);

/**
 * Marks a handler to be answered before Express: its request skips Express's router and Nest's per-request pipeline,
 * which cost more CPU than a small file's whole storage work (docs/benchmarks.md, "Direct routes"). The handler's own
 * decorators stay the one description of the route: its path and method, its controller's guards, the global error
 * filter and the request observer all apply as before. Only handlers of the form `(@Req() req, @Res() res)` that use
 * Node's own request and response (no Express helpers) and declare no pipes, interceptors or filters may be direct;
 * anything else fails at start. A request the direct table does not match exactly goes to Express as before.
 */
export const DirectRoute = (): MethodDecorator => SetMetadata(DIRECT_ROUTE, true);

type Handler = (req: IncomingMessage, res: ServerResponse) => unknown;

interface Route {
  method: string;
  /** The path, or with a trailing wildcard the part before it. */
  path: string;
  wildcard: boolean;
  /** What the request observer reports as the route, as Express would: `{ path: '/v1/files/*key' }`. */
  label: { path: string };
  guards: CanActivate[];
  handler: Handler;
  cls: Type;
}

/** The ExecutionContext a guard or the exception filter sees for a direct request: HTTP, with no `next`. */
export class DirectContext implements ExecutionContext, HttpArgumentsHost {
  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly cls?: Type,
    private readonly handler?: Handler,
  ) {}

  getRequest<T>(): T { return this.req as T; }
  getResponse<T>(): T { return this.res as T; }
  getNext<T>(): T { return undefined as T; }
  getClass<T>(): Type<T> { return this.cls as Type<T>; }
  getHandler(): Handler { return this.handler as Handler; }
  getArgs<T extends unknown[]>(): T { return [this.req, this.res] as T; }
  getArgByIndex<T>(index: number): T { return this.getArgs()[index] as T; }
  getType<T extends string>(): T { return 'http' as T; }
  switchToHttp(): HttpArgumentsHost { return this; }
  switchToRpc(): RpcArgumentsHost { throw new Error('a direct route is HTTP'); }
  switchToWs(): WsArgumentsHost { throw new Error('a direct route is HTTP'); }
}

/** The table of {@link DirectRoute} handlers, built from the controllers' metadata once the app has started. */
@Injectable()
export class DirectRoutes implements OnApplicationBootstrap {
  private readonly logger = new Logger(DirectRoutes.name);
  private routes: Route[] = [];

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly moduleRef: ModuleRef,
  ) {}

  onApplicationBootstrap(): void {
    const routes: Route[] = [];
    for (const wrapper of this.discovery.getControllers()) {
      const instance = wrapper.instance as Record<string, Handler> | undefined;
      if (!instance || !wrapper.metatype) continue;
      const cls = wrapper.metatype as Type;
      for (const name of this.scanner.getAllMethodNames(Object.getPrototypeOf(instance))) {
        const fn = instance[name];
        if (Reflect.getMetadata(DIRECT_ROUTE, fn) !== true) continue;
        // One instance answers every request: a request-scoped controller would need Nest's per-request injector.
        if (!wrapper.isDependencyTreeStatic()) throw new Error(`@DirectRoute() on ${cls.name}.${name}: the controller is request-scoped`);
        routes.push(this.route(cls, name, fn.bind(instance), fn));
      }
    }
    this.routes = routes;
    if (routes.length > 0) this.logger.log({ routes: this.list() }, 'routes answered before Express');
  }

  /** The paths answered directly, as `METHOD /path` (for tests and the start-up log). */
  list(): string[] {
    return this.routes.map((r) => `${r.method} ${r.label.path}`);
  }

  /**
   * Answers the request if a direct route matches it exactly (method, case and path); otherwise returns undefined and
   * the caller hands it to Express. The promise rejects with whatever the guards or the handler threw.
   */
  dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> | undefined {
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    for (const r of this.routes) {
      if (r.method !== req.method) continue;
      if (r.wildcard ? path.length > r.path.length && path.startsWith(r.path) : path === r.path) return this.run(r, req, res);
    }
    return undefined;
  }

  private async run(r: Route, req: IncomingMessage, res: ServerResponse): Promise<void> {
    (req as IncomingMessage & { route?: { path: string } }).route = r.label;
    if (r.guards.length > 0) {
      const ctx = new DirectContext(req, res, r.cls, r.handler);
      for (const guard of r.guards) {
        const allowed = guard.canActivate(ctx);
        // As Nest's GuardsConsumer: a guard that answers false is a 403.
        if (!(isObservable(allowed) ? await lastValueFrom(allowed) : await allowed)) throw new ForbiddenException('Forbidden resource');
      }
    }
    await r.handler(req, res);
  }

  private route(cls: Type, name: string, handler: Handler, fn: object): Route {
    const where = `${cls.name}.${name}`;
    const fail = (why: string): never => {
      throw new Error(`@DirectRoute() on ${where}: ${why}`);
    };
    const keys = Object.keys((Reflect.getMetadata(ROUTE_ARGS_METADATA, cls, name) ?? {}) as object).sort();
    const passthrough = Reflect.getMetadata(RESPONSE_PASSTHROUGH_METADATA, cls, name) === true;
    if (keys.join() !== `${RouteParamtypes.REQUEST}:0,${RouteParamtypes.RESPONSE}:1` || passthrough) fail('the handler must take exactly (@Req() req, @Res() res)');
    for (const key of [PIPES_METADATA, INTERCEPTORS_METADATA, EXCEPTION_FILTERS_METADATA]) {
      if ((Reflect.getMetadata(key, cls) ?? Reflect.getMetadata(key, fn))?.length) fail(`${key} are not applied on a direct route`);
    }
    const method = RequestMethod[Reflect.getMetadata(METHOD_METADATA, fn) as RequestMethod];
    if (!METHODS.has(method)) fail(`method ${method} cannot be direct`);
    const path = [Reflect.getMetadata(PATH_METADATA, cls), Reflect.getMetadata(PATH_METADATA, fn)]
      .map((p: unknown) => String(p ?? '').replace(/^\/+|\/+$/g, ''))
      .filter((p) => p.length > 0)
      .join('/');
    const template = `/${path}`;
    const star = template.lastIndexOf('/*');
    const wildcard = star >= 0 && /^\/\*\w+$/.test(template.slice(star));
    const fixed = wildcard ? template.slice(0, star + 1) : template;
    if (/[:*?()[\]]/.test(fixed)) fail(`only fixed paths, or one trailing /*name, are supported (got ${template})`);
    const guardTypes = [...((Reflect.getMetadata(GUARDS_METADATA, cls) ?? []) as Type<CanActivate>[]), ...((Reflect.getMetadata(GUARDS_METADATA, fn) ?? []) as Type<CanActivate>[])];
    // The guard instances Nest made for @UseGuards (module injectables). strict: false searches every module, so this
    // is an instance of the class, not necessarily the controller module's own: right for stateless guards (ours).
    const guards = guardTypes.map((g) => (typeof g === 'function' ? this.moduleRef.get(g, { strict: false }) : g));
    return { method, path: fixed, wildcard, label: { path: template }, guards, handler, cls };
  }
}
