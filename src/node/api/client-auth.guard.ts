import { type CanActivate, type ExecutionContext, Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import type { Request } from 'express';
import { APP_CONFIG, type NodeConfig } from '../../config/app-config.js';
import { bearerToken, tokenEquals, tokenIn } from '../../common/auth/bearer.js';
import { ShoalError } from '../../common/errors.js';

const READ_METHODS = new Set(['GET', 'HEAD']);

/**
 * The client API's bearer tokens: API_TOKENS read and write, API_READ_TOKENS only read, and the cluster token does
 * everything. With no client token configured the API is open, and a warning says so at start.
 */
@Injectable()
export class ClientAuthGuard implements CanActivate, OnModuleInit {
  private readonly logger = new Logger(ClientAuthGuard.name);

  constructor(@Inject(APP_CONFIG) private readonly config: NodeConfig) {}

  onModuleInit(): void {
    if (!this.open()) return;
    this.logger.warn('API_TOKENS and API_READ_TOKENS are empty: the client API is open to anyone who can reach this node');
  }

  private open(): boolean {
    return this.config.apiTokens.length === 0 && this.config.apiReadTokens.length === 0;
  }

  canActivate(ctx: ExecutionContext): boolean {
    if (this.open()) return true;
    const req = ctx.switchToHttp().getRequest<Request>();
    const token = bearerToken(req);
    if (!token) throw new ShoalError('UNAUTHORIZED', 'send a bearer token (Authorization: Bearer <token>)', {}, { 'WWW-Authenticate': 'Bearer' });
    if (tokenIn(token, this.config.apiTokens) || tokenEquals(token, this.config.clusterToken)) return true;
    if (tokenIn(token, this.config.apiReadTokens)) {
      if (READ_METHODS.has(req.method)) return true;
      throw new ShoalError('FORBIDDEN', 'this token may only read');
    }
    throw new ShoalError('UNAUTHORIZED', 'unknown token', {}, { 'WWW-Authenticate': 'Bearer error="invalid_token"' });
  }
}
