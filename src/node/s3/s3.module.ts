import { Module } from '@nestjs/common';
import { MetricsModule } from '../../common/metrics/metrics.module.js';
import { WorkersModule } from '../../common/workers/workers.module.js';
import { ReplicationModule } from '../replication/replication.module.js';
import { BucketHandler } from './bucket.handler.js';
import { CopyHandler } from './copy.handler.js';
import { DeleteHandler } from './delete.handler.js';
import { ListHandler } from './list.handler.js';
import { MultipartHandler } from './multipart.handler.js';
import { MultipartSweepScheduler } from './multipart-sweep.scheduler.js';
import { ObjectHandler } from './object.handler.js';
import { S3ApiServer } from './s3-api.server.js';
import { S3Router } from './s3-router.js';
import { S3StoreService } from './s3-store.service.js';

/**
 * The S3 front end, beside the /v1 API: its own HTTP server on S3_PORT (started only when set), SigV4, XML, one
 * handler per family of operations. Like /v1 it calls the coordinators, the listing and the manifests of the
 * replication layer and never touches storage.
 */
@Module({
  imports: [ReplicationModule, MetricsModule, WorkersModule],
  providers: [S3StoreService, BucketHandler, ObjectHandler, ListHandler, CopyHandler, DeleteHandler, MultipartHandler, MultipartSweepScheduler, S3Router, S3ApiServer],
})
export class S3Module {}
