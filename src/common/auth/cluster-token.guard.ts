import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { APP_CONFIG, type AppConfig } from '../../config/app-config.js';
import { ShoalError } from '../errors.js';
import { bearerToken, tokenEquals } from './bearer.js';

/** Internal calls (node↔registry, node↔node) must carry `Authorization: Bearer <CLUSTER_TOKEN>`. */
@Injectable()
export class ClusterTokenGuard implements CanActivate {
  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  canActivate(ctx: ExecutionContext): boolean {
    const token = bearerToken(ctx.switchToHttp().getRequest<Request>());
    if (!token) throw new ShoalError('UNAUTHORIZED', 'this route needs the cluster token as a bearer token', {}, { 'WWW-Authenticate': 'Bearer' });
    if (!tokenEquals(token, this.config.clusterToken)) throw new ShoalError('UNAUTHORIZED', 'wrong cluster token', {}, { 'WWW-Authenticate': 'Bearer error="invalid_token"' });
    return true;
  }
}
