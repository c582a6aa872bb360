import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { DirectRoutes } from './direct-routes.js';

/** The table of handlers answered before Express (direct-routes.ts); createApp hands it to the HTTP adapter. */
@Module({ imports: [DiscoveryModule], providers: [DirectRoutes], exports: [DirectRoutes] })
export class DirectRoutesModule {}
